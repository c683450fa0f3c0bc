"""Shipments."""

from __future__ import annotations

import uuid

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
        if row is None:
            return None
        return Shipment(
            row.order_id,
            row.location,
            row.carrier,
            row.tracking_number,
            [ShippedLine(ln["sku"], ln["quantity"]) for ln in row.lines],
            id=row.id,
            created_at=row.created_at,
        )
