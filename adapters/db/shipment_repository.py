"""Shipments."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from adapters.db.tables import shipments
from domain.ports import ShipmentRepository
from domain.shipments import Shipment, ShippedLine


class SqlShipmentRepository(ShipmentRepository):
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def add(self, shipment: Shipment) -> None:
        self.conn.execute(
            sa.insert(shipments).values(
                id=shipment.id,
                order_id=shipment.order_id,
                location=shipment.location,
                carrier=shipment.carrier,
                tracking_number=shipment.tracking_number,
                lines=[{"sku": ln.sku, "quantity": ln.quantity} for ln in shipment.lines],
                created_at=shipment.created_at,
            )
        )

    def find(self, order_id: uuid.UUID, carrier: str, tracking_number: str) -> Shipment | None:
        row = self.conn.execute(
            sa.select(shipments).where(
                shipments.c.order_id == order_id,
                shipments.c.carrier == carrier,
                shipments.c.tracking_number == tracking_number,
            )
        ).first()
        return None if row is None else _shipment(row)

    def of_order(self, order_id: uuid.UUID) -> list[Shipment]:
        rows = self.conn.execute(
            sa.select(shipments)
            .where(shipments.c.order_id == order_id)
            .order_by(shipments.c.created_at, shipments.c.id)
        )
        return [_shipment(row) for row in rows]


def _shipment(row: sa.Row[Any]) -> Shipment:
    return Shipment(
        row.order_id,
        row.location,
        row.carrier,
        row.tracking_number,
        [ShippedLine(ln["sku"], ln["quantity"]) for ln in row.lines],
        id=row.id,
        created_at=row.created_at,
    )
