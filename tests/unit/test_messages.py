"""Outbox rows → Dramatiq messages: what a worker decodes."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import dramatiq

from outbox.envelope import Envelope
from outbox.messages import build, message_id

EVENT_ID = uuid.UUID("0a1b2c3d-0000-4000-8000-000000000001")


def row(**overrides: object) -> SimpleNamespace:
    values: dict[str, object] = {
        "delivery_id": 7,
        "destination": "channel:web",
        "sequence": 3,
        "generation": 0,
        "created_at": datetime(2026, 11, 26, 10, 0, tzinfo=UTC),
        "event_id": EVENT_ID,
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
    message: dramatiq.Message[Any] = dramatiq.Message(**json.loads(build(row()).body))
    envelope = Envelope.model_validate(message.args[0])
    assert (message.queue_name, message.actor_name) == ("channels", "channels.deliver")
    assert envelope.payload == {"order_id": "o-1", "note": '"quoted"'}
    assert (envelope.destination, envelope.sequence, envelope.generation) == ("channel:web", 3, 0)
    assert message.options["traceparent"].startswith("00-0af7")
    # The documented format (outbox.messages.message_id): event id / destination / generation.
    assert message.message_id == "0a1b2c3d-0000-4000-8000-000000000001/channel:web/0"


def test_text_a_caller_controls_cannot_break_out_of_the_message() -> None:
    hostile = '"},"payload":{"evil":1},"x":{"'
    body = build(row(correlation_id=hostile, causation_id="__payload__")).body
    message = json.loads(body)
    assert message["args"][0]["correlation_id"] == hostile
    assert message["args"][0]["payload"] == {"order_id": "o-1", "note": '"quoted"'}


def test_a_message_id_is_event_destination_and_generation_as_documented() -> None:
    # Written out by hand from the docstring's format, not computed by message_id itself.
    assert message_id(EVENT_ID, "erp", 0) == "0a1b2c3d-0000-4000-8000-000000000001/erp/0"
    assert (
        message_id(EVENT_ID, "channel:pos", 12)
        == "0a1b2c3d-0000-4000-8000-000000000001/channel:pos/12"
    )


def test_the_relay_message_carries_the_id_message_id_gives() -> None:
    # build() assembles its id on its own; the two paths must agree (a worker's dedup and
    # the relay's published message name the same delivery the same way).
    for destination, generation in (("erp", 0), ("wms", 3), ("channel:web", 1)):
        built = build(row(destination=destination, generation=generation))
        decoded = json.loads(built.body)["message_id"]
        expected = message_id(EVENT_ID, destination, generation)
        assert built.message_id == decoded == expected, (destination, generation)


def test_a_reprocess_has_a_new_message_id() -> None:
    first = build(row(destination="erp", generation=0)).message_id
    again = build(row(destination="erp", generation=0)).message_id
    reprocessed = build(row(destination="erp", generation=1)).message_id
    assert first == again == "0a1b2c3d-0000-4000-8000-000000000001/erp/0"
    assert reprocessed == "0a1b2c3d-0000-4000-8000-000000000001/erp/1"
