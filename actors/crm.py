"""CRM: the customer (one contact across channels, by normalized e-mail) and the order on
their timeline."""

from __future__ import annotations

from typing import Any

from domain.events import OrderAccepted
from outbox.envelope import Envelope


def handle(envelope: Envelope, clients: Any) -> object:
    if envelope.event_type == "order.accepted":
        return clients.crm.record_order(
            OrderAccepted.model_validate(envelope.payload),
            idempotency_key=envelope.idempotency_key(),
        )
    return None
