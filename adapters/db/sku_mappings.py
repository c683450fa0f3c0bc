"""A channel's SKUs → ours (`ordersync sku map|list|unmap`): read when a delivery is applied
(adapters/db/channel_sync_repository.py), so a mapping takes effect at the next apply,
a replay of a delivery parked for its unknown SKU included; and the other way, for what
goes back to the channel (adapters/db/sku_map.py reads it both ways)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from adapters.db.channel_tables import sku_mappings as t
from adapters.db.registry import RegistryError
from adapters.db.tables import channels


def map_sku(
    conn: sa.Connection, channel: str, channel_sku: str, sku: str, *, created_by: str
) -> dict[str, Any]:
    """Map (or map again) a channel's SKU to ours; the mapping as stored."""
    if conn.execute(sa.select(channels.c.name).where(channels.c.name == channel)).first() is None:
        raise RegistryError(f"no channel named {channel!r}")
    stmt = insert(t).values(
        channel=channel, channel_sku=channel_sku, sku=sku, created_by=created_by
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[t.c.channel, t.c.channel_sku],
        set_={"sku": sku, "created_by": created_by, "created_at": sa.func.now()},
    ).returning(*t.c)
    return conn.execute(stmt).one()._asdict()


def unmap_sku(conn: sa.Connection, channel: str, channel_sku: str) -> dict[str, Any] | None:
    """Remove a mapping; the one removed (None: there was none)."""
    stmt = (
        sa.delete(t).where(t.c.channel == channel, t.c.channel_sku == channel_sku).returning(*t.c)
    )
    row = conn.execute(stmt).first()
    return None if row is None else row._asdict()


def list_mappings(conn: sa.Connection, channel: str | None = None) -> list[dict[str, Any]]:
    query = sa.select(t).order_by(t.c.channel, t.c.channel_sku)
    if channel is not None:
        query = query.where(t.c.channel == channel)
    return [row._asdict() for row in conn.execute(query)]
