"""Our SKUs in an outbound payload become the channel's, wherever they are nested, in one
place for every kind (adapters/channels/channel_skus.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from adapters.channels.channel_skus import in_channel_skus
from domain.events import (
    AmountLine,
    EventPayload,
    InventoryChanged,
    OrderCancelled,
    ShipmentDispatched,
    ShippedLineOut,
)
from outbox.envelope import Envelope

THEIRS = {"TEE-M-BLK": "CH-TEE", "MUG-WHT": "CH-MUG"}
COMMON = {"order_id": str(uuid.UUID(int=7)), "channel": "web", "external_id": "W-1"}


def envelope(payload: EventPayload) -> Envelope:
    return Envelope(
        event_id=uuid.UUID(int=1),
        event_type=payload.event_type,
        event_version=1,
        aggregate_type=payload.aggregate_type,
        aggregate_id=payload.aggregate_id(),
        aggregate_version=1,
        destination="channel:web",
        sequence=1,
        generation=0,
        occurred_at=datetime(2026, 12, 1, tzinfo=UTC),
        correlation_id=None,
        causation_id=None,
        channel="web",
        payload=payload.model_dump(mode="json"),
    )


def test_a_stock_change_names_the_channels_sku_and_keeps_its_identity() -> None:
    ours = envelope(InventoryChanged(sku="TEE-M-BLK", atp=4, locations=[]))

    sent = in_channel_skus(ours, THEIRS)

    assert sent.payload["sku"] == "CH-TEE"
    assert (sent.aggregate_id, sent.idempotency_key()) == ("TEE-M-BLK", ours.idempotency_key())
    assert ours.payload["sku"] == "TEE-M-BLK"  # the original is left as it was


def test_every_line_of_a_shipment_or_a_cancellation_is_mapped_and_the_rest_kept() -> None:
    shipment = ShipmentDispatched(
        **COMMON,
        status="fulfilled",
        shipment_id=str(uuid.UUID(int=2)),
        location="WH-EAST",
        carrier="DHL",
        tracking_number="JD0001",
        lines=[
            ShippedLineOut(line_no=1, sku="TEE-M-BLK", quantity=2),
            ShippedLineOut(line_no=2, sku="NOT-MAPPED", quantity=1),
        ],
        currency="EUR",
        shipped_value="44.06",
    )
    line = AmountLine(line_no=3, sku="MUG-WHT", quantity=1, net="9.90", discount="0", tax="0")
    cancel = OrderCancelled(
        **COMMON,
        status="partially_cancelled",
        currency="EUR",
        totals={},
        whole=False,
        reason="customer",
        lines=[line],
    )

    shipped = in_channel_skus(envelope(shipment), THEIRS).payload["lines"]
    cancelled = in_channel_skus(envelope(cancel), THEIRS).payload["lines"]

    assert [line["sku"] for line in shipped] == ["CH-TEE", "NOT-MAPPED"]
    assert [line["quantity"] for line in shipped] == [2, 1]
    assert [line["sku"] for line in cancelled] == ["CH-MUG"]


def test_without_a_mapping_the_envelope_is_the_same_one() -> None:
    ours = envelope(InventoryChanged(sku="TEE-M-BLK", atp=4, locations=[]))
    assert in_channel_skus(ours, {}) is ours
    assert in_channel_skus(ours, {"OTHER": "X"}) is ours
