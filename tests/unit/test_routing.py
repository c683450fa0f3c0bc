"""Routing of event types to destinations, and the partition of each aggregate."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.events import (
    EVENT_TYPES,
    BackorderedLine,
    DomainEvent,
    EventPayload,
    InventoryChanged,
    OrderAccepted,
    OrderAllocated,
    OrderBackordered,
)
from outbox.partition import PARTITIONS, partition_of
from outbox.routing import ROUTES, Target, channel_destination, destinations, needs_channel_list

ORDER_ID = str(uuid.UUID(int=1))
COMMON = {"order_id": ORDER_ID, "channel": "web", "external_id": "WEB-1", "status": "allocated"}


def event(payload: EventPayload, channel: str | None = "web") -> DomainEvent:
    return DomainEvent(payload, aggregate_version=1, channel=channel)


def accepted() -> OrderAccepted:
    return OrderAccepted(
        **COMMON,
        placed_at=datetime(2026, 11, 26, 10, tzinfo=UTC),
        currency="EUR",
        customer={"email": "ana@example.com"},
        shipping_address={"city": "Lisboa"},
        billing_address=None,
        shipping=None,
        payment=None,
        totals={"grand_total": "54.98"},
        lines=[],
    )


def stock() -> InventoryChanged:
    return InventoryChanged(sku="TEE-M-BLK", atp=3, locations=[])


def test_every_event_type_has_a_route() -> None:
    assert set(EVENT_TYPES) <= set(ROUTES)
    assert all(ROUTES[t] for t in EVENT_TYPES)


def test_a_channel_destination_is_named_after_the_channel() -> None:
    assert channel_destination("shop-eu") == "channel:shop-eu"


def test_an_accepted_order_goes_to_erp_crm_and_back_to_its_channel() -> None:
    assert destinations(event(accepted()), channels=["web", "pos"]) == [
        "erp",
        "crm",
        "channel:web",
    ]


def test_an_allocated_order_goes_to_the_wms_only() -> None:
    assert destinations(
        event(OrderAllocated(**COMMON, reservations=[], shipping_address={}, shipping=None))
    ) == ["wms"]


def test_a_backordered_order_goes_to_the_wms_and_its_channel() -> None:
    payload = OrderBackordered(**COMMON, lines=[BackorderedLine(line_no=1, sku="A", quantity=1)])
    assert destinations(event(payload, channel="amazon-eu")) == ["wms", "channel:amazon-eu"]


def test_an_event_without_an_origin_channel_skips_the_channel_destination() -> None:
    assert destinations(event(accepted(), channel=None)) == ["erp", "crm"]


def test_a_stock_change_goes_to_every_channel_in_a_stable_order() -> None:
    result = destinations(event(stock(), channel="web"), channels=["web", "amazon", "pos"])
    assert result == ["channel:amazon", "channel:pos", "channel:web"]


def test_a_stock_change_with_no_channels_goes_nowhere() -> None:
    assert destinations(event(stock(), channel=None), channels=[]) == []


def test_destinations_have_no_duplicates() -> None:
    result = destinations(event(stock()), channels=["web", "web"])
    assert result == ["channel:web"]


def test_only_stock_changes_need_the_channel_list() -> None:
    assert needs_channel_list([event(accepted()), event(stock())])
    assert not needs_channel_list([event(accepted())])
    assert not needs_channel_list([])


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_every_route_names_known_targets(event_type: str) -> None:
    assert all(isinstance(t, Target) for t in ROUTES[event_type])


@pytest.mark.parametrize(
    ("aggregate_type", "aggregate_id", "partition"),
    [
        ("order", "00000000-0000-0000-0000-000000000001", 2),
        ("sku", "TEE-M-BLK", 47),
        ("customer", "ana@example.com", 48),
    ],
)
def test_the_partition_of_an_aggregate_never_changes(
    aggregate_type: str, aggregate_id: str, partition: int
) -> None:
    # Stored with every outbox row: these figures must hold across processes and releases.
    assert partition_of(aggregate_type, aggregate_id) == partition


def test_the_aggregate_type_is_part_of_the_partition_key() -> None:
    ids = [f"X-{i}" for i in range(50)]
    assert [partition_of("order", i) for i in ids] != [partition_of("sku", i) for i in ids]


def test_aggregates_spread_over_many_partitions() -> None:
    used = {partition_of("order", str(uuid.UUID(int=i))) for i in range(2000)}
    assert len(used) == PARTITIONS


@given(aggregate_type=st.sampled_from(["order", "sku", "customer"]), aggregate_id=st.text())
def test_a_partition_is_in_range_and_the_same_every_time(
    aggregate_type: str, aggregate_id: str
) -> None:
    partition = partition_of(aggregate_type, aggregate_id)
    assert 0 <= partition < PARTITIONS
    assert partition_of(aggregate_type, aggregate_id) == partition
