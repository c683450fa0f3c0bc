"""Outbox rows → Dramatiq messages: what a worker decodes."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from types import SimpleNamespace

import dramatiq

from outbox.envelope import Envelope
from outbox.messages import build, message_id


def row(**overrides: object) -> SimpleNamespace:
    values: dict[str, object] = {
        "delivery_id": 7,
        "destination": "channel:web",
        "sequence": 3,
        "generation": 0,
        "created_at": datetime(2026, 11, 26, 10, 0, tzinfo=UTC),
        "event_id": uuid.UUID("0a1b2c3d-0000-4000-8000-000000000001"),
        "event_type": "order.accepted",
        "event_version": 1,
        "aggregate_type": "order",
        "aggregate_id": "o-1",
        "aggregate_version": 2,
        "occurred_at": datetime(2026, 11, 26, 10, 0, tzinfo=UTC),
        "correlation_id": "c-1",
        "causation_id": None,
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "tracestate": None,
        "channel": "web",
        "payload_json": '{"order_id": "o-1", "note": "\\"quoted\\""}',
    }
    values.update(overrides)
    return SimpleNamespace(**values)


def test_a_row_becomes_a_dramatiq_message_with_the_envelope_as_its_argument() -> None:
    message = dramatiq.Message(**json.loads(build(row()).body))
    envelope = Envelope.model_validate(message.args[0])
    assert (message.queue_name, message.actor_name) == ("channels", "channels.deliver")
    assert envelope.payload == {"order_id": "o-1", "note": '"quoted"'}
    assert (envelope.destination, envelope.sequence, envelope.generation) == ("channel:web", 3, 0)
    assert message.options["traceparent"].startswith("00-0af7")
    assert message.message_id == message_id(envelope.event_id, "channel:web", 0)


def test_text_a_caller_controls_cannot_break_out_of_the_message() -> None:
    hostile = '"},"payload":{"evil":1},"x":{"'
    body = build(row(correlation_id=hostile, causation_id="__payload__")).body
    message = json.loads(body)
    assert message["args"][0]["correlation_id"] == hostile
    assert message["args"][0]["payload"] == {"order_id": "o-1", "note": '"quoted"'}


def test_a_reprocess_has_a_new_message_id() -> None:
    event = uuid.uuid4()
    assert message_id(event, "erp", 0) != message_id(event, "erp", 1)
    assert message_id(event, "erp", 0) == message_id(event, "erp", 0)
