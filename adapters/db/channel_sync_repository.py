"""The SQL side of applying a channel's delivery (domain.ports.ChannelSyncRepository):
business versions, SKU mappings, the channel's orders by external id."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa

from adapters.db import sku_map
from adapters.db.tables import orders
from domain.ports import ChannelSyncRepository, ChannelVersion

# Newer: a later (version_at, version_no); or the same tick with other content (the tie
# rule, domain/channel_order_sync.py). ON CONFLICT … DO UPDATE locks the existing row
# whether or not WHERE lets it change, so two appliers of one channel order queue here;
# the second reads the first's committed row. No row back: stale, nothing written.
ADVANCE = sa.text("""
INSERT INTO channel_order_versions AS v
    (channel, external_id, version_at, version_no, fingerprint, delivery, updated_at)
VALUES (:channel, :external_id, :version_at, :version_no, :fingerprint, :delivery, now())
ON CONFLICT (channel, external_id) DO UPDATE SET
    version_at = excluded.version_at, version_no = excluded.version_no,
    fingerprint = excluded.fingerprint, delivery = excluded.delivery, updated_at = now()
WHERE (excluded.version_at, excluded.version_no) > (v.version_at, v.version_no)
   OR ((excluded.version_at, excluded.version_no) = (v.version_at, v.version_no)
       AND excluded.fingerprint <> v.fingerprint)
RETURNING 1""")
_ORDER_ID = sa.select(orders.c.id).where(
    orders.c.channel == sa.bindparam("channel"), orders.c.external_id == sa.bindparam("external")
)


class SqlChannelSyncRepository(ChannelSyncRepository):
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def advance(
        self, channel: str, external_id: str, version: ChannelVersion, delivery: int | None
    ) -> bool:
        row = self.conn.execute(
            ADVANCE,
            {
                "channel": channel,
                "external_id": external_id,
                "version_at": version.version_at,
                "version_no": version.version_no,
                "fingerprint": version.fingerprint,
                "delivery": delivery,
            },
        ).first()
        return row is not None

    def order_id(self, channel: str, external_id: str) -> uuid.UUID | None:
        found = self.conn.execute(_ORDER_ID, {"channel": channel, "external": external_id})
        return found.scalar_one_or_none()

    def skus(self, channel: str, channel_skus: Sequence[str]) -> dict[str, str]:
        return sku_map.ours(self.conn, channel, channel_skus)
