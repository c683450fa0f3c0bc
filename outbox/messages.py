"""Outbox rows → Dramatiq messages (the envelope as the actor's only argument)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from outbox.envelope import Envelope
from outbox.queues import queue_for


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    delivery_id: int
    queue_name: str
    message_id: str
    body: bytes  # Dramatiq's JSON encoding of the whole message


def message_id(event_id: uuid.UUID, destination: str, generation: int) -> str:
    """Stable across retries and redeliveries; new for a reprocess (a new generation)."""
    return str(uuid.uuid5(event_id, f"{destination}/{generation}"))


def _iso(value: datetime) -> str:
    return value.isoformat()


def build(row: Any) -> OutgoingMessage:
    """A claimed row (a delivery joined to its event) as a Dramatiq message."""
    envelope = {
        "event_id": str(row.event_id),
        "event_type": row.event_type,
        "event_version": row.event_version,
        "aggregate_type": row.aggregate_type,
        "aggregate_id": row.aggregate_id,
        "aggregate_version": row.aggregate_version,
        "destination": row.destination,
        "sequence": row.sequence,
        "generation": row.generation,
        "occurred_at": _iso(row.occurred_at),
        "correlation_id": row.correlation_id,
        "causation_id": row.causation_id,
        "channel": row.channel,
        "payload": row.payload,
    }
    route = queue_for(row.destination)
    mid = message_id(row.event_id, row.destination, row.generation)
    options: dict[str, Any] = {"correlation_id": row.correlation_id, "delivery_id": row.delivery_id}
    # Dramatiq's consumer does not hand AMQP headers to actors: the trace context
    # travels in the message options instead.
    if row.traceparent:
        options["traceparent"] = row.traceparent
        if row.tracestate:
            options["tracestate"] = row.tracestate
    message = {
        "queue_name": route.queue_name,
        "actor_name": route.actor_name,
        "args": [envelope],
        "kwargs": {},
        "options": options,
        "message_id": mid,
        "message_timestamp": int(row.created_at.timestamp() * 1000),
    }
    body = json.dumps(message, separators=(",", ":")).encode()
    return OutgoingMessage(row.delivery_id, route.queue_name, mid, body)


def decode_envelope(args: list[Any]) -> Envelope:
    """The envelope an actor receives (validated)."""
    return Envelope.model_validate(args[0])
