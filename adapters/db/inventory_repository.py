"""Stock per SKU and location; the SKU row is the lock that serializes its changes."""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from adapters.db import mapping
from adapters.db.tables import locations, reservations, skus, stock
from domain.allocation import StockLevel
from domain.orders import Reservation
from domain.ports import InventoryRepository, SkuStock

_WANTED = sa.bindparam("skus", expanding=True)
# Every writer locks SKUs sorted, so two multi-line orders over the same SKUs
# never wait on each other in a cycle.
_LOCK_SKUS = (
    sa.select(skus.c.sku).where(skus.c.sku.in_(_WANTED)).order_by(skus.c.sku).with_for_update()
)
# Each stock row's safety stock, channel → units, the SKU's own rows over the '*' ones
# (ix_safety_stock_location): read with the stock, so what a channel may sell costs no
# round trip of its own on the ingest path (every order emits inventory.changed).
_SAFETY = sa.literal_column(
    """(SELECT jsonb_object_agg(s.channel, s.quantity) FROM (
        SELECT DISTINCT ON (channel) channel, quantity FROM safety_stock
        WHERE location = stock.location AND sku IN (stock.sku, '*')
        ORDER BY channel, sku = '*') AS s)"""
).label("safety")
_READ_STOCK = (
    sa.select(
        skus.c.sku,
        skus.c.version,
        stock.c.location,
        stock.c.on_hand,
        stock.c.reserved,
        locations.c.priority,
        _SAFETY,
    )
    .select_from(skus.outerjoin(stock).outerjoin(locations))
    .where(skus.c.sku.in_(_WANTED))
    .order_by(skus.c.sku, stock.c.location)
)
# One statement for any number of rows (executemany would send one per row).
_SAVE_LEVELS = """
UPDATE stock SET on_hand = v.on_hand, reserved = v.reserved, updated_at = now()
FROM (SELECT x->>0 AS sku, x->>1 AS location, (x->>2)::int AS on_hand, (x->>3)::int AS reserved
      FROM jsonb_array_elements(%s::jsonb) AS x) AS v
WHERE stock.sku = v.sku AND stock.location = v.location
"""
_BUMP_VERSIONS = (
    sa.update(skus)
    .where(skus.c.sku.in_(_WANTED))
    .values(version=skus.c.version + 1)
    .returning(skus.c.sku, skus.c.version)
)
_NEWEST_RESERVATIONS = (
    sa.select(reservations)
    .where(
        reservations.c.sku == sa.bindparam("sku"), reservations.c.location == sa.bindparam("loc")
    )
    .order_by(reservations.c.created_at.desc(), reservations.c.id.desc())
)
_LOCATION = sa.select(locations.c.code).where(locations.c.code == sa.bindparam("code"))


def read_stock(conn: sa.Connection, names: Sequence[str], *, lock: bool) -> dict[str, SkuStock]:
    """SKUs with their stock per location; `lock` first takes the SKU rows in sorted order.

    Locking and reading are two statements on purpose. Under READ COMMITTED a
    `SELECT … FOR UPDATE` that waited for a lock re-reads only the rows it locks;
    rows it joins to come from the snapshot taken before the wait, so a stock
    figure read in the same statement can be stale by exactly the change we
    waited for (a lost update: an oversell). The second statement takes a new
    snapshot after the locks are held, and sees every committed change (safety stock
    included: its writers lock the SKUs it applies to).
    """
    wanted = {"skus": sorted(set(names))}
    if not wanted["skus"]:
        return {}
    if lock:
        conn.execute(_LOCK_SKUS, wanted)
    result: dict[str, SkuStock] = {}
    for row in conn.execute(_READ_STOCK, wanted):
        entry = result.setdefault(row.sku, SkuStock(row.sku, row.version))
        if row.location is not None:
            entry.levels.append(
                StockLevel(row.sku, row.location, row.priority, row.on_hand, row.reserved)
            )
            if row.safety:
                entry.safety[row.location] = dict(row.safety)
    return result


class SqlInventoryRepository(InventoryRepository):
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def lock(self, names: Sequence[str]) -> dict[str, SkuStock]:
        return read_stock(self.conn, names, lock=True)

    def ensure(self, pairs: Sequence[tuple[str, str]]) -> None:
        unique = sorted(set(pairs))
        names = sorted({s for s, _ in unique})
        self.conn.execute(
            insert(skus).on_conflict_do_nothing(), [{"sku": s, "version": 0} for s in names]
        )
        # The SKUs locked before their new stock rows: a stock row's foreign key check
        # takes FOR KEY SHARE on its SKU, and two writers holding that lock would each
        # wait for the other's when they then lock the SKU FOR UPDATE (a deadlock).
        self.conn.execute(_LOCK_SKUS, {"skus": names})
        self.conn.execute(
            insert(locations).on_conflict_do_nothing(),
            [
                {"code": loc, "type": "warehouse", "priority": 100}
                for loc in sorted({loc for _, loc in unique})
            ],
        )
        self.conn.execute(
            insert(stock).on_conflict_do_nothing(),
            [{"sku": s, "location": loc, "on_hand": 0, "reserved": 0} for s, loc in unique],
        )

    def save_levels(self, levels: Sequence[StockLevel]) -> None:
        if not levels:
            return
        ordered = sorted(levels, key=lambda lv: (lv.sku, lv.location))
        rows = [[lv.sku, lv.location, lv.on_hand, lv.reserved] for lv in ordered]
        self.conn.exec_driver_sql(_SAVE_LEVELS, (json.dumps(rows),))

    def bump_versions(self, names: Sequence[str]) -> dict[str, int]:
        if not names:
            return {}
        return {
            row.sku: row.version for row in self.conn.execute(_BUMP_VERSIONS, {"skus": list(names)})
        }

    def newest_reservations(self, sku: str, location: str) -> list[Reservation]:
        rows = self.conn.execute(_NEWEST_RESERVATIONS, {"sku": sku, "loc": location})
        return [mapping.reservation(row) for row in rows]

    def location_exists(self, location: str) -> bool:
        return self.conn.execute(_LOCATION, {"code": location}).first() is not None
