"""Routing of event types to destinations (the product's, composed from the systems' and
channel kinds' handler tables), and the partition of each aggregate."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.systems import SYSTEMS, Systems
from domain.events import (
    EVENT_TYPES,
    BackorderedLine,
    DomainEvent,
    EventPayload,
    InventoryChanged,
    OrderAccepted,
    OrderAllocated,
    OrderBackordered,
    ShipmentDispatched,
    ShippedLineOut,
)
from ops.wiring import ROUTING, routing
from outbox.partition import PARTITIONS, partition_of
from outbox.routing import CHANNEL_TARGETS, Routing, RoutingError, channel_destination

ROUTES = ROUTING.routes
destinations = ROUTING.destinations
needs_channel_list = ROUTING.needs_channel_list

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


def test_a_dispatched_shipment_goes_to_the_erp_and_its_channel_not_the_crm() -> None:
    payload = ShipmentDispatched(
        **{**COMMON, "status": "fulfilled"},
        shipment_id="s-1",
        location="WH-EAST",
        carrier="CTT",
        tracking_number="RR1",
        lines=[ShippedLineOut(line_no=1, sku="A", quantity=1)],
        currency="EUR",
        shipped_value="10.00",
    )
    assert destinations(event(payload, channel="pos"), channels=["web", "pos"]) == [
        "erp",
        "channel:pos",
    ]


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
    assert all(t in ROUTING.systems or t in CHANNEL_TARGETS for t in ROUTES[event_type])


def test_the_product_routes_exactly_as_before_the_systems_had_their_own_homes() -> None:
    # docs/events.md's table, written out: composing it from the handler tables must not
    # move a single destination.
    assert dict(ROUTES) == {
        "order.accepted": ("erp", "crm", "origin-channel"),
        "order.allocated": ("wms",),
        "order.backordered": ("wms", "origin-channel"),
        "shipment.dispatched": ("erp", "origin-channel"),
        "inventory.changed": ("all-channels",),
        "payment.recorded": ("erp",),
        "refund.recorded": ("erp", "origin-channel"),
        # The lifecycle (issue 12): an edit amends the ERP's sales order; a cancellation
        # reaches the ERP and the order's channel (the WMS hears of it by order.allocated).
        "order.amended": ("erp", "origin-channel"),
        "order.cancelled": ("erp", "origin-channel"),
        "return.opened": ("wms", "origin-channel"),
        "return.received": ("origin-channel",),
        "order.held": ("origin-channel",),
        "order.released": ("origin-channel",),
        "customer.updated": ("crm",),
    }
    assert routing() == ROUTING


def test_an_event_type_that_nobody_takes_fails_when_the_routing_is_made() -> None:
    routes = {t: ("erp",) for t in EVENT_TYPES if t != "inventory.changed"}
    with pytest.raises(RoutingError, match=r"without a route: \['inventory.changed'\]"):
        Routing(routes)


def test_a_route_for_an_event_type_the_domain_does_not_know_fails() -> None:
    with pytest.raises(RoutingError, match="unknown event types"):
        Routing({**ROUTES, "order.teleported": ("erp",)})


@pytest.mark.parametrize("target", ["channel:web", "ERP", "", "3pl"])
def test_a_target_that_is_no_system_name_nor_a_channel_target_fails(target: str) -> None:
    with pytest.raises(RoutingError, match="neither a system name"):
        Routing({**ROUTES, "order.allocated": (target,)})


def test_a_routing_of_ones_own_adds_a_system_and_leaves_the_products_alone() -> None:
    own = Routing.of(
        {"erp": ["order.accepted"], "threepl": ["order.allocated", "order.accepted"]},
        {t: "all-channels" for t in EVENT_TYPES},
    )
    assert own.destinations(event(accepted()), channels=["web"]) == [
        "erp",
        "threepl",
        "channel:web",
    ]
    assert "threepl" not in ROUTING.systems


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


def crc32_by_hand(data: bytes) -> int:
    """CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320) bit by bit: an oracle that
    shares no code with zlib."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0xEDB88320 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def test_the_hand_written_crc32_is_the_standard_one() -> None:
    assert crc32_by_hand(b"123456789") == 0xCBF43926  # the CRC-32 check value
    assert crc32_by_hand(b"") == 0


@pytest.mark.parametrize(
    ("aggregate_type", "aggregate_id", "crc"),
    [
        # The CRC-32 of "order:00000000-…-000000000001" etc., worked out once and written
        # down; their low six bits are the partitions pinned above (2, 47, 48).
        ("order", "00000000-0000-0000-0000-000000000001", 0xC1D1E102),
        ("sku", "TEE-M-BLK", 0x7E0BC8EF),
        ("customer", "ana@example.com", 0x6D1B1A30),
    ],
)
def test_a_partition_is_the_crc32_of_type_colon_id_modulo_64(
    aggregate_type: str, aggregate_id: str, crc: int
) -> None:
    key = f"{aggregate_type}:{aggregate_id}".encode()
    assert crc32_by_hand(key) == crc
    assert partition_of(aggregate_type, aggregate_id) == crc % 64


@given(aggregate_type=st.sampled_from(["order", "sku", "customer"]), aggregate_id=st.text())
def test_a_partition_is_in_range_and_what_crc32_modulo_64_gives(
    aggregate_type: str, aggregate_id: str
) -> None:
    # docs/architecture.md: crc32 of "<type>:<id>" (UTF-8) modulo 64, computed here apart
    # from outbox.partition, so a change of hash, key or modulus is caught for any text.
    partition = partition_of(aggregate_type, aggregate_id)
    assert 0 <= partition < PARTITIONS == 64
    assert partition == crc32_by_hand(f"{aggregate_type}:{aggregate_id}".encode()) % 64


def test_systems_that_leave_an_event_type_untaken_fail_when_the_routing_is_built() -> None:
    # Without the WMS nobody takes allocations: the product would refuse to start.
    with pytest.raises(RoutingError, match=r"without a route: \['order\.allocated'\]"):
        routing(Systems(SYSTEMS["erp"], SYSTEMS["crm"]))
