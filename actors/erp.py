"""ERP: a sales order per accepted order, an invoice per shipment (the ERP is the system of
record for money and stock)."""

from __future__ import annotations

from typing import Any

from adapters.systems.shipment import Shipment
from domain.events import OrderAccepted
from outbox.envelope import Envelope


def handle(envelope: Envelope, clients: Any) -> object:
    key = envelope.idempotency_key()
    if envelope.event_type == "order.accepted":
        return clients.erp.post_sales_order(
            OrderAccepted.model_validate(envelope.payload), idempotency_key=key
        )
    if envelope.event_type == "shipment.dispatched":
        return clients.erp.post_invoice(
            Shipment.model_validate(envelope.payload), idempotency_key=key
        )
    return None  # routed here but nothing for the ERP to do
