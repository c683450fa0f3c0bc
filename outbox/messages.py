"""Outbox rows → Dramatiq messages (the envelope as the actor's only argument)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from outbox.queues import queue_for


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    delivery_id: int
    queue_name: str
    message_id: str
    body: bytes  # Dramatiq's JSON encoding of the whole message


def message_id(event_id: uuid.UUID, destination: str, generation: int) -> str:
    """Stable across retries and redeliveries; new for a reprocess (a new generation)."""
    return f"{event_id}/{destination}/{generation}"


def build(row: Any, trace_context: Mapping[str, str] | None = None) -> OutgoingMessage:
    """A claimed row (a delivery joined to its event) as a Dramatiq message.

    The hot path of the relay: the payload arrives as JSON text and is spliced in,
    not decoded and encoded again. `trace_context`: the traceparent (and tracestate) of
    the relay's producer span (outbox/tracing.py); without one, the row's own.
    """
    event_id = str(row.event_id)
    envelope = {
        "event_id": event_id,
        "event_type": row.event_type,
        "event_version": row.event_version,
        "aggregate_type": row.aggregate_type,
        "aggregate_id": row.aggregate_id,
        "aggregate_version": row.aggregate_version,
        "destination": row.destination,
        "sequence": row.sequence,
        "generation": row.generation,
        "occurred_at": row.occurred_at,  # orjson writes datetimes in ISO 8601
        "correlation_id": row.correlation_id,
        "causation_id": row.causation_id,
        "channel": row.channel,
    }
    route = queue_for(row.destination)
    mid = f"{event_id}/{row.destination}/{row.generation}"
    options: dict[str, Any] = {"correlation_id": row.correlation_id, "delivery_id": row.delivery_id}
    # Dramatiq's consumer does not hand AMQP headers to actors: the trace context
    # travels in the message options instead.
    if trace_context is not None:
        options.update(trace_context)
    elif row.traceparent:
        options["traceparent"] = row.traceparent
        if row.tracestate:
            options["tracestate"] = row.tracestate
    # Assembled around the payload text (every other value goes through json.dumps, so
    # nothing a caller sent can break out of its string).
    envelope_text = f'{_dumps(envelope)[:-1]},"payload":{row.payload_json}}}'
    text = (
        f'{{"queue_name":{_dumps(route.queue_name)},"actor_name":{_dumps(route.actor_name)},'
        f'"args":[{envelope_text}],"kwargs":{{}},"options":{_dumps(options)},'
        f'"message_id":{_dumps(mid)},'
        f'"message_timestamp":{int(row.created_at.timestamp() * 1000)}}}'
    )
    return OutgoingMessage(row.delivery_id, route.queue_name, mid, text.encode())


def _dumps(value: Any) -> str:
    # orjson: the relay encodes every message it publishes, and json.dumps was most of that.
    return orjson.dumps(value).decode()
