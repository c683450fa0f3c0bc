"""A channel's SKU mapping (`ordersync sku map CHANNEL CHANNEL_SKU SKU`), both ways, in one
place: inbound, a channel's SKUs → ours (`ours`, read in the applying transaction by
adapters/db/channel_sync_repository.py and by POST /v1/pos/sales); outbound, our SKUs →
the channel's (`theirs`, and `ChannelSkuMaps`, its cache per channel for the workers), so
a stock update or a fulfilment names the SKU the channel sells.

The mapping is many to one: a channel may sell one of our SKUs under several of its own
(a SKU renamed, a bundle listing). Outbound, one of them must be chosen: the one mapped
most recently (`sku map` again to choose another), the channel SKU's name breaking a tie.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import distinct_on

from adapters.db.channel_tables import sku_mappings as t

_OURS = sa.select(t.c.channel_sku, t.c.sku).where(
    t.c.channel == sa.bindparam("channel"),
    t.c.channel_sku.in_(sa.bindparam("skus", expanding=True)),
)
# One channel SKU per SKU of ours: the latest mapping (created_at is reset by a re-map).
_THEIRS = (
    sa.select(t.c.sku, t.c.channel_sku)
    .where(t.c.channel == sa.bindparam("channel"))
    .ext(distinct_on(t.c.sku))
    .order_by(t.c.sku, t.c.created_at.desc(), t.c.channel_sku)
)


def ours(conn: sa.Connection, channel: str, channel_skus: Sequence[str]) -> dict[str, str]:
    """The channel's SKUs that have a mapping → our SKU (the others are ours as given)."""
    if not channel_skus:
        return {}
    rows = conn.execute(_OURS, {"channel": channel, "skus": list(channel_skus)})
    return {row.channel_sku: row.sku for row in rows}


def theirs(conn: sa.Connection, channel: str) -> dict[str, str]:
    """Every SKU of ours the channel has a mapping for → the channel's SKU for it."""
    return {row.sku: row.channel_sku for row in conn.execute(_THEIRS, {"channel": channel})}


@dataclass
class ChannelSkuMaps:
    """`theirs` of each channel, read at most once per `refresh_s` (as the workers read a
    channel's --api-url and credentials: a `sku map` reaches outbound documents within
    that), thread-safe."""

    engine: sa.Engine
    refresh_s: float = 30.0
    _read: dict[str, tuple[float, Mapping[str, str]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def theirs(self, channel: str) -> Mapping[str, str]:
        """Our SKU → the channel's, for every SKU of ours the channel maps."""
        with self._lock:
            cached = self._read.get(channel)
            if cached is not None and time.monotonic() - cached[0] <= self.refresh_s:
                return cached[1]
        with self.engine.connect() as conn:
            mapping = theirs(conn, channel)
        with self._lock:
            self._read[channel] = (time.monotonic(), mapping)
        return mapping
