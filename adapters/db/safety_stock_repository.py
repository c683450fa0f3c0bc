"""Safety stock rules (safety_stock): what a channel is never offered of a location's ATP.
They are read with the stock (adapters/db/inventory_repository.py); this is their upkeep."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from adapters.db.lifecycle_tables import safety_stock
from adapters.db.tables import channels, locations, stock
from domain.ports import SafetyRule, SafetyStockRepository

# FOR UPDATE, not a weaker lock: it is the one that conflicts with the FOR KEY SHARE a new
# stock row's foreign key check takes on its location.
_LOCK_LOCATION = (
    sa.select(locations.c.code).where(locations.c.code == sa.bindparam("code")).with_for_update()
)


class SqlSafetyStockRepository(SafetyStockRepository):
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def lock_location(self, location: str) -> bool:
        return self.conn.execute(_LOCK_LOCATION, {"code": location}).first() is not None

    def channel_exists(self, channel: str) -> bool:
        query = sa.select(channels.c.name).where(channels.c.name == channel)
        return self.conn.execute(query).first() is not None

    def skus_at(self, location: str) -> list[str]:
        query = sa.select(stock.c.sku).where(stock.c.location == location).order_by(stock.c.sku)
        return list(self.conn.execute(query).scalars())

    def put(self, rule: SafetyRule) -> None:
        values = {
            "channel": rule.channel,
            "location": rule.location,
            "sku": rule.sku,
            "quantity": rule.quantity,
        }
        stmt = insert(safety_stock).values(**values)
        self.conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["channel", "location", "sku"],
                set_={"quantity": rule.quantity, "updated_at": sa.func.now()},
            )
        )

    def remove(self, channel: str, location: str, sku: str) -> bool:
        deleted = self.conn.execute(
            sa.delete(safety_stock)
            .where(
                safety_stock.c.channel == channel,
                safety_stock.c.location == location,
                safety_stock.c.sku == sku,
            )
            .returning(safety_stock.c.sku)
        )
        return deleted.first() is not None

    def rules(self, channel: str | None = None) -> list[SafetyRule]:
        query = sa.select(
            safety_stock.c.channel,
            safety_stock.c.location,
            safety_stock.c.sku,
            safety_stock.c.quantity,
        ).order_by(safety_stock.c.channel, safety_stock.c.location, safety_stock.c.sku)
        if channel is not None:
            query = query.where(safety_stock.c.channel == channel)
        return [SafetyRule(*row) for row in self.conn.execute(query)]
