"""Domain services over the fake unit of work: state and events, committed together or not."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from domain.commands import AdjustInventory, PlaceOrder, RecordShipment, ShippedLineIn
from domain.errors import (
    ConcurrencyConflict,
    DuplicateMismatch,
    InsufficientStock,
    UnknownSku,
)
from domain.events import InventoryChanged, OrderAccepted, OrderAllocated, OrderBackordered
from domain.orders import Order
from domain.services import adjust_inventory, place_order, retrying
from domain.shipping import record_shipment
from domain.status import OrderStatus
from tests.factories import CONTRACT_ORDER, order_doc
from tests.unit.fakes import FakeUnitOfWork

SKU = "TEE-M-BLK"


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork()


def place(
    uow: FakeUnitOfWork,
    document: dict[str, Any] | None = None,
    *,
    channel: str = "web",
    idempotency_key: str | None = None,
) -> tuple[Order, bool]:
    cmd = PlaceOrder.model_validate(document or copy.deepcopy(CONTRACT_ORDER))
    return place_order(uow, cmd, channel=channel, idempotency_key=idempotency_key)


def adjust(uow: FakeUnitOfWork, *adjustments: dict[str, Any]) -> Any:
    return adjust_inventory(uow, AdjustInventory.model_validate({"adjustments": adjustments}))


def payloads(uow: FakeUnitOfWork, kind: type) -> list[Any]:
    return [e.payload for e in uow.committed_events if isinstance(e.payload, kind)]


def assert_reserved_matches_reservations(uow: FakeUnitOfWork) -> None:
    for (sku, location), lv in uow.inventory.levels.items():
        assert lv.reserved == uow.reserved_by_orders(sku, location), (sku, location)
        assert lv.reserved <= lv.on_hand, (sku, location)


# place_order


def test_an_order_that_one_location_covers_is_allocated(uow: FakeUnitOfWork) -> None:
    uow.inventory.seed(SKU, "WH-EAST", 10)

    order, created = place(uow)

    assert created
    assert order.status is OrderStatus.ALLOCATED
    assert uow.commits == 1
    stored = uow.stored(order.id)
    assert stored.status is OrderStatus.ALLOCATED
    assert [(r.location, r.quantity) for r in stored.reservations] == [("WH-EAST", 2)]
    assert uow.inventory.level(SKU, "WH-EAST").reserved == 2
    assert uow.event_types() == [
        "order.accepted",
        "order.allocated",
        "customer.updated",  # a first order makes its customer
        "inventory.changed",
    ]


def test_an_order_goes_to_the_higher_priority_location(uow: FakeUnitOfWork) -> None:
    uow.inventory.seed(SKU, "STORE-LIS", 10, priority=50)
    uow.inventory.seed(SKU, "WH-EAST", 10, priority=10)

    order, _ = place(uow)

    assert [r.location for r in order.reservations] == ["WH-EAST"]
    assert uow.inventory.level(SKU, "STORE-LIS").reserved == 0


def test_an_order_no_one_location_covers_is_split(uow: FakeUnitOfWork) -> None:
    uow.inventory.seed(SKU, "WH-EAST", 1, priority=10)
    uow.inventory.seed(SKU, "STORE-LIS", 1, priority=20)

    order, _ = place(uow)

    assert order.status is OrderStatus.ALLOCATED
    assert sorted((r.location, r.quantity) for r in order.reservations) == [
        ("STORE-LIS", 1),
        ("WH-EAST", 1),
    ]
    assert_reserved_matches_reservations(uow)


def test_an_order_partly_covered_is_partially_allocated(uow: FakeUnitOfWork) -> None:
    uow.inventory.seed(SKU, "WH-EAST", 1)

    order, created = place(uow)

    assert created
    assert order.status is OrderStatus.PARTIALLY_ALLOCATED
    assert order.lines[0].allocated == 1
    assert order.lines[0].backordered == 1
    assert uow.event_types() == [
        "order.accepted",
        "order.allocated",
        "order.backordered",
        "customer.updated",
        "inventory.changed",
    ]
    [backordered] = payloads(uow, OrderBackordered)
    assert [(ln.line_no, ln.sku, ln.quantity) for ln in backordered.lines] == [(1, SKU, 1)]


def test_an_order_with_no_stock_is_backordered(uow: FakeUnitOfWork) -> None:
    uow.inventory.seed(SKU, "WH-EAST", 0)

    order, created = place(uow)

    assert created
    assert order.status is OrderStatus.BACKORDERED
    assert order.reservations == []
    assert uow.stored(order.id).status is OrderStatus.BACKORDERED
    assert uow.event_types() == ["order.accepted", "order.backordered", "customer.updated"]
    [accepted] = payloads(uow, OrderAccepted)
    assert accepted.status == "backordered"


def test_the_accepted_event_carries_the_canonical_order(uow: FakeUnitOfWork) -> None:
    uow.inventory.seed(SKU, "WH-EAST", 10)

    order, _ = place(uow)

    accepted_event = uow.committed_events[0]
    assert accepted_event.aggregate_type == "order"
    assert accepted_event.aggregate_id == str(order.id)
    assert accepted_event.aggregate_version == 1
    assert accepted_event.channel == "web"
    payload = accepted_event.payload
    assert isinstance(payload, OrderAccepted)
    assert payload.status == "allocated"
    assert payload.external_id == "WEB-10001"
    assert payload.totals["grand_total"] == "54.98"
    assert [(ln.sku, ln.quantity, ln.unit_price, ln.tax) for ln in payload.lines] == [
        (SKU, 2, "19.90", "9.15")
    ]
    [allocated] = payloads(uow, OrderAllocated)
    assert [(r.sku, r.location, r.quantity) for r in allocated.reservations] == [
        (SKU, "WH-EAST", 2)
    ]


def test_reserving_stock_emits_the_skus_new_atp(uow: FakeUnitOfWork) -> None:
    uow.inventory.seed(SKU, "WH-EAST", 10)
    uow.inventory.seed(SKU, "STORE-LIS", 3, priority=200)

    place(uow)

    [event] = [e for e in uow.committed_events if e.event_type == "inventory.changed"]
    assert event.aggregate_id == SKU
    assert event.aggregate_version == 1
    assert event.channel == "web"
    assert event.coalesce_key == f"atp:{SKU}"
    payload = event.payload
    assert isinstance(payload, InventoryChanged)
    assert payload.atp == 11
    assert [(s.location, s.on_hand, s.reserved, s.atp) for s in payload.locations] == [
        ("STORE-LIS", 3, 0, 3),
        ("WH-EAST", 10, 2, 8),
    ]
    assert uow.inventory.versions[SKU] == 1


def test_an_unknown_sku_raises_and_commits_nothing(uow: FakeUnitOfWork) -> None:
    uow.inventory.seed("KNOWN", "WH-EAST", 10)

    with pytest.raises(UnknownSku) as raised:
        place(uow, order_doc(lines=[("KNOWN", 1), ("NOPE-1", 1), ("NOPE-2", 1)]))

    assert raised.value.extra["skus"] == ["NOPE-1", "NOPE-2"]
    assert uow.commits == 0
    assert uow.orders.orders == {}
    assert uow.committed_events == []
    assert uow.inventory.level("KNOWN", "WH-EAST").reserved == 0


def test_the_same_order_again_returns_the_stored_one_and_writes_nothing(
    uow: FakeUnitOfWork,
) -> None:
    uow.inventory.seed(SKU, "WH-EAST", 10)
    first, _ = place(uow)
    events_before = list(uow.committed_events)

    again, created = place(uow)

    assert not created
    assert again.id == first.id
    assert again.status is OrderStatus.ALLOCATED
    assert uow.commits == 1
    assert uow.committed_events == events_before
    assert len(uow.orders.orders) == 1
    assert uow.inventory.level(SKU, "WH-EAST").reserved == 2


def test_the_same_order_with_equivalent_amounts_is_the_same_order(uow: FakeUnitOfWork) -> None:
    uow.inventory.seed(SKU, "WH-EAST", 10)
    first, _ = place(uow)
    document = copy.deepcopy(CONTRACT_ORDER)
    document["lines"][0]["unit_price"] = "19.9"
    document["customer"]["email"] = "ANA@example.com"

    again, created = place(uow, document)

    assert not created
    assert again.id == first.id


def test_the_same_external_id_with_different_content_raises(uow: FakeUnitOfWork) -> None:
    uow.inventory.seed(SKU, "WH-EAST", 10)
    first, _ = place(uow)

    with pytest.raises(DuplicateMismatch) as raised:
        place(uow, order_doc(lines=[(SKU, 3)]))

    assert "WEB-10001" in raised.value.detail
    assert raised.value.extra["order_id"] == str(first.id)
    assert uow.commits == 1
    assert len(uow.orders.orders) == 1
    assert uow.inventory.level(SKU, "WH-EAST").reserved == 2


def test_the_same_idempotency_key_with_different_content_raises(uow: FakeUnitOfWork) -> None:
    uow.inventory.seed(SKU, "WH-EAST", 10)
    place(uow, idempotency_key="key-1")

    with pytest.raises(DuplicateMismatch, match="Idempotency-Key"):
        place(uow, order_doc(external_id="WEB-10002"), idempotency_key="key-1")

    assert uow.commits == 1


def test_the_same_external_id_on_another_channel_is_another_order(uow: FakeUnitOfWork) -> None:
    uow.inventory.seed(SKU, "WH-EAST", 10)
    first, _ = place(uow, channel="web")

    second, created = place(uow, channel="pos")

    assert created
    assert second.id != first.id
    assert uow.inventory.level(SKU, "WH-EAST").reserved == 4


def test_orders_never_reserve_more_than_there_is(uow: FakeUnitOfWork) -> None:
    uow.inventory.seed(SKU, "WH-EAST", 5)

    statuses = [place(uow, order_doc(f"WEB-{i}", [(SKU, 2)]))[0].status for i in range(4)]

    assert statuses == [
        OrderStatus.ALLOCATED,
        OrderStatus.ALLOCATED,
        OrderStatus.PARTIALLY_ALLOCATED,
        OrderStatus.BACKORDERED,
    ]
    assert uow.inventory.level(SKU, "WH-EAST").reserved == 5
    assert_reserved_matches_reservations(uow)


def test_a_duplicate_whose_first_writer_rolled_back_is_a_concurrency_conflict(
    uow: FakeUnitOfWork,
) -> None:
    uow.inventory.seed(SKU, "WH-EAST", 10)
    uow.orders.add = lambda order, customer: None  # type: ignore[method-assign]  # the other insert won

    with pytest.raises(ConcurrencyConflict):
        place(uow)

    assert uow.commits == 0
    assert uow.inventory.level(SKU, "WH-EAST").reserved == 0


def test_retrying_runs_the_work_again_after_a_concurrency_conflict() -> None:
    outcomes: list[Exception | str] = [ConcurrencyConflict(), ConcurrencyConflict(), "done"]

    def work() -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert retrying(work) == "done"
    assert outcomes == []


def test_retrying_gives_up_after_its_attempts() -> None:
    calls = []

    def work() -> None:
        calls.append(1)
        raise ConcurrencyConflict()

    with pytest.raises(ConcurrencyConflict):
        retrying(work, attempts=3)
    assert len(calls) == 3


def test_retrying_does_not_retry_other_errors() -> None:
    calls = []

    def work() -> None:
        calls.append(1)
        raise UnknownSku()

    with pytest.raises(UnknownSku):
        retrying(work)
    assert len(calls) == 1


# adjust_inventory


def test_setting_stock_creates_unknown_skus_and_locations(uow: FakeUnitOfWork) -> None:
    result = adjust(uow, {"sku": "NEW", "location": "WH-NEW", "set_on_hand": 7})

    assert uow.commits == 1
    assert uow.inventory.level("NEW", "WH-NEW").on_hand == 7
    assert result["NEW"].atp == 7
    [payload] = payloads(uow, InventoryChanged)
    assert (payload.sku, payload.atp) == ("NEW", 7)
    assert uow.committed_events[0].channel is None


def test_adjustments_apply_in_order(uow: FakeUnitOfWork) -> None:
    result = adjust(
        uow,
        {"sku": SKU, "location": "WH-EAST", "set_on_hand": 10, "reason": "cycle count"},
        {"sku": SKU, "location": "STORE-LIS", "set_on_hand": 3, "reason": "cycle count"},
        {"sku": SKU, "location": "STORE-LIS", "delta": -1, "reason": "damaged"},
    )

    assert uow.inventory.level(SKU, "WH-EAST").on_hand == 10
    assert uow.inventory.level(SKU, "STORE-LIS").on_hand == 2
    assert result[SKU].atp == 12
    [payload] = payloads(uow, InventoryChanged)
    assert payload.atp == 12
    assert [(s.location, s.on_hand, s.atp) for s in payload.locations] == [
        ("STORE-LIS", 2, 2),
        ("WH-EAST", 10, 10),
    ]


def test_a_delta_adds_to_on_hand(uow: FakeUnitOfWork) -> None:
    uow.inventory.seed(SKU, "WH-EAST", 4)

    adjust(uow, {"sku": SKU, "location": "WH-EAST", "delta": 3})

    assert uow.inventory.level(SKU, "WH-EAST").on_hand == 7


def test_an_adjustment_that_changes_nothing_emits_no_stock_event(uow: FakeUnitOfWork) -> None:
    uow.inventory.seed(SKU, "WH-EAST", 4)

    adjust(uow, {"sku": SKU, "location": "WH-EAST", "set_on_hand": 4})

    assert uow.event_types() == []
    assert uow.inventory.versions[SKU] == 0


def test_a_negative_on_hand_raises_and_commits_nothing(uow: FakeUnitOfWork) -> None:
    uow.inventory.seed(SKU, "WH-EAST", 2)

    with pytest.raises(InsufficientStock) as raised:
        adjust(
            uow,
            {"sku": SKU, "location": "WH-EAST", "set_on_hand": 10},
            {"sku": "NEW", "location": "WH-NEW", "set_on_hand": 1},
            {"sku": SKU, "location": "WH-EAST", "delta": -11},
        )

    assert raised.value.extra["index"] == 2
    assert raised.value.extra["errors"][0]["field"] == "adjustments.2"
    assert uow.commits == 0
    assert uow.committed_events == []
    assert uow.inventory.level(SKU, "WH-EAST").on_hand == 2
    assert ("NEW", "WH-NEW") not in uow.inventory.levels


def test_a_shrink_below_reserved_backorders_the_newest_reservation(uow: FakeUnitOfWork) -> None:
    uow.inventory.seed(SKU, "WH-EAST", 4)
    older, _ = place(uow, order_doc("WEB-1", [(SKU, 2)]))
    newer, _ = place(uow, order_doc("WEB-2", [(SKU, 2)]))
    uow.committed_events.clear()

    adjust(uow, {"sku": SKU, "location": "WH-EAST", "set_on_hand": 2})

    assert uow.stored(older.id).status is OrderStatus.ALLOCATED
    assert uow.stored(older.id).version == 1
    stored = uow.stored(newer.id)
    assert stored.status is OrderStatus.BACKORDERED
    assert stored.reservations == []
    assert stored.lines[0].backordered == 2
    assert stored.version == 2
    assert uow.inventory.level(SKU, "WH-EAST").reserved == 2
    assert_reserved_matches_reservations(uow)
    # ATP stays 0 at WH-EAST (4 - 4 before, 2 - 2 after): no stock event. The order's
    # allocation goes out though it is empty: the WMS must cancel what it was sent.
    assert uow.event_types() == ["order.allocated", "order.backordered"]
    [allocated] = payloads(uow, OrderAllocated)
    assert allocated.reservations == []
    assert all(e.aggregate_id == str(newer.id) for e in uow.committed_events)
    assert all(e.aggregate_version == 2 for e in uow.committed_events)


def test_a_shrink_takes_only_what_it_must_from_the_newest_reservation(
    uow: FakeUnitOfWork,
) -> None:
    uow.inventory.seed(SKU, "WH-EAST", 4)
    older, _ = place(uow, order_doc("WEB-1", [(SKU, 2)]))
    newer, _ = place(uow, order_doc("WEB-2", [(SKU, 2)]))

    adjust(uow, {"sku": SKU, "location": "WH-EAST", "delta": -1})

    assert uow.stored(older.id).status is OrderStatus.ALLOCATED
    stored = uow.stored(newer.id)
    assert stored.status is OrderStatus.PARTIALLY_ALLOCATED
    assert [r.quantity for r in stored.reservations] == [1]
    assert_reserved_matches_reservations(uow)


def test_a_large_shrink_takes_from_older_reservations_too(uow: FakeUnitOfWork) -> None:
    uow.inventory.seed(SKU, "WH-EAST", 6)
    oldest, _ = place(uow, order_doc("WEB-1", [(SKU, 2)]))
    middle, _ = place(uow, order_doc("WEB-2", [(SKU, 2)]))
    newest, _ = place(uow, order_doc("WEB-3", [(SKU, 2)]))

    adjust(uow, {"sku": SKU, "location": "WH-EAST", "set_on_hand": 1})

    assert uow.stored(newest.id).status is OrderStatus.BACKORDERED
    assert uow.stored(middle.id).status is OrderStatus.BACKORDERED
    assert uow.stored(oldest.id).status is OrderStatus.PARTIALLY_ALLOCATED
    assert_reserved_matches_reservations(uow)


def test_a_shrunk_reservation_is_reallocated_to_another_location(uow: FakeUnitOfWork) -> None:
    uow.inventory.seed(SKU, "WH-EAST", 4, priority=10)
    older, _ = place(uow, order_doc("WEB-1", [(SKU, 2)]))
    newer, _ = place(uow, order_doc("WEB-2", [(SKU, 2)]))
    adjust(uow, {"sku": SKU, "location": "STORE-LIS", "set_on_hand": 5})
    uow.committed_events.clear()

    adjust(uow, {"sku": SKU, "location": "WH-EAST", "set_on_hand": 2})

    assert [r.location for r in uow.stored(older.id).reservations] == ["WH-EAST"]
    stored = uow.stored(newer.id)
    assert stored.status is OrderStatus.ALLOCATED
    assert [(r.location, r.quantity) for r in stored.reservations] == [("STORE-LIS", 2)]
    assert stored.version == 2
    assert uow.inventory.level(SKU, "WH-EAST").reserved == 2
    assert uow.inventory.level(SKU, "STORE-LIS").reserved == 2
    assert_reserved_matches_reservations(uow)
    assert uow.event_types() == ["order.allocated", "inventory.changed"]
    [allocated] = payloads(uow, OrderAllocated)
    assert allocated.order_id == str(newer.id)
    assert [(r.location, r.quantity) for r in allocated.reservations] == [("STORE-LIS", 2)]
    [stock] = payloads(uow, InventoryChanged)
    assert stock.atp == 3


# Any sequence of orders, adjustments and shipments


LOCATION_PRIORITIES = {"L1": 1, "L2": 2, "L3": 3}

place_ops = st.lists(
    st.tuples(st.sampled_from(["A", "B"]), st.integers(1, 4)), min_size=1, max_size=3
).map(lambda lines: ("place", lines))
adjust_ops = st.lists(
    st.tuples(
        st.sampled_from(["A", "B"]),
        st.sampled_from(sorted(LOCATION_PRIORITIES)),
        st.one_of(
            st.builds(lambda n: {"set_on_hand": n}, st.integers(0, 6)),
            st.builds(lambda n: {"delta": n}, st.integers(-3, 3)),
        ),
    ),
    min_size=1,
    max_size=3,
).map(lambda adjustments: ("adjust", adjustments))
ship_ops = st.integers(0, 11).map(lambda n: ("ship", n))


def ship_one(uow: FakeUnitOfWork, n: int, tracking: str) -> None:
    """Ship one unit of an order's oldest reservation (the n-th order holding any, cyclically)."""
    holding = [o for o in uow.orders.orders.values() if o.reservations]
    if not holding:
        return
    order = holding[n % len(holding)]
    held = order.reservations[0]
    cmd = RecordShipment(
        order_id=order.id,
        location=held.location,
        carrier="DHL",
        tracking_number=tracking,
        lines=[ShippedLineIn(sku=held.sku, quantity=1)],
    )
    record_shipment(uow, cmd)


def expected_status(order: Order) -> OrderStatus:
    """What the lines call for, stated apart from the code under test: what has shipped
    decides first, since the state machine never leads back from shipped to unshipped."""
    lines = order.lines
    if all(ln.shipped == ln.quantity for ln in lines):
        return OrderStatus.FULFILLED
    if any(ln.shipped for ln in lines):
        return OrderStatus.PARTIALLY_FULFILLED
    if all(ln.allocated == ln.quantity for ln in lines):
        return OrderStatus.ALLOCATED
    return (
        OrderStatus.PARTIALLY_ALLOCATED
        if any(ln.allocated for ln in lines)
        else OrderStatus.BACKORDERED
    )


def assert_consistent(uow: FakeUnitOfWork) -> None:
    assert_reserved_matches_reservations(uow)
    for order in uow.orders.orders.values():
        for line in order.lines:
            reserved = sum(r.quantity for r in order.reservations if r.line_no == line.line_no)
            assert reserved == line.allocated
            assert 0 <= line.allocated <= line.quantity - line.shipped
        assert all(r.quantity > 0 for r in order.reservations)
        assert order.status is expected_status(order)
    latest: dict[str, Any] = {}
    for e in uow.committed_events:
        if e.event_type == "inventory.changed":
            assert e.aggregate_version > latest.get(e.aggregate_id, (0, None))[0]
            latest[e.aggregate_id] = (e.aggregate_version, e.payload)
    for sku, version in uow.inventory.versions.items():
        atp = sum(lv.atp for (s, _), lv in uow.inventory.levels.items() if s == sku)
        if sku in latest:
            assert latest[sku][0] == version
            assert latest[sku][1].atp == atp
        else:
            assert atp == 0


@given(st.lists(st.one_of(place_ops, adjust_ops, ship_ops), max_size=12))
# Issue 8, point 2: a count at a location where a part-shipped order holds stock.
@example(
    [
        ("adjust", [("A", "L1", {"set_on_hand": 3})]),
        ("place", [("A", 2)]),
        ("ship", 0),
        ("adjust", [("A", "L1", {"set_on_hand": 0})]),
    ]
)
def test_stock_and_reservations_stay_consistent_whatever_happens(
    operations: list[tuple[str, Any]],
) -> None:
    uow = FakeUnitOfWork()
    uow.inventory.priorities.update(LOCATION_PRIORITIES)
    uow.inventory.ensure([("A", "L1"), ("B", "L1")])
    for i, (kind, args) in enumerate(operations):
        before = uow.commits
        if kind == "place":
            order, created = place(uow, order_doc(f"WEB-{i}", args))
            assert created
            assert order.status is uow.stored(order.id).status
        elif kind == "ship":
            ship_one(uow, args, f"T{i}")
        else:
            adjustments = [{"sku": s, "location": loc, **change} for s, loc, change in args]
            try:
                adjust(uow, *adjustments)
            except InsufficientStock:
                assert uow.commits == before
        assert_consistent(uow)
