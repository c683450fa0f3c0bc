"""Channels: the order's status back to the channel it came from, and stock figures to every
channel. Generic for channels with an --api-url; a channel without one takes nothing back.
(The channel issue adds one module per channel kind.)"""

from __future__ import annotations

from typing import Any

from adapters.systems.shipment import Shipment
from domain.events import InventoryChanged, OrderAccepted, OrderBackordered
from outbox.envelope import Envelope
from outbox.queues import CHANNEL_PREFIX


def handle(envelope: Envelope, clients: Any) -> object:
    client = clients.channel(envelope.destination.removeprefix(CHANNEL_PREFIX))
    if client is None:
        return None
    key, payload = envelope.idempotency_key(), envelope.payload
    match envelope.event_type:
        case "order.accepted":
            return client.acknowledge(OrderAccepted.model_validate(payload), idempotency_key=key)
        case "order.backordered":
            return client.backordered(OrderBackordered.model_validate(payload), idempotency_key=key)
        case "shipment.dispatched":
            return client.shipped(Shipment.model_validate(payload), idempotency_key=key)
        case "inventory.changed":
            return client.update_stock(
                InventoryChanged.model_validate(payload), idempotency_key=key
            )
    return None
