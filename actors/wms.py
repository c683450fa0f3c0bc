"""WMS: a fulfillment order per allocated location; backorders for its information."""

from __future__ import annotations

from typing import Any

from domain.events import OrderAllocated, OrderBackordered
from outbox.envelope import Envelope


def handle(envelope: Envelope, clients: Any) -> object:
    key = envelope.idempotency_key()
    if envelope.event_type == "order.allocated":
        return clients.wms.post_fulfillment_orders(
            OrderAllocated.model_validate(envelope.payload), idempotency_key=key
        )
    if envelope.event_type == "order.backordered":
        return clients.wms.post_backorder(
            OrderBackordered.model_validate(envelope.payload), idempotency_key=key
        )
    return None
