"""Backorder fill: stock that arrives goes to the backordered lines, oldest order first,
across locations; each order given stock is saved once, logged and announced."""

from __future__ import annotations

from typing import Any

import pytest

from domain.commands import AdjustInventory, PlaceOrder, RecordShipment
from domain.events import OrderAllocated, OrderBackordered
from domain.orders import Order
from domain.services import adjust_inventory, place_order
from domain.shipping import record_shipment
from domain.status import OrderStatus
from tests.factories import order_doc
from tests.unit.fakes import FakeUnitOfWork


@pytest.fixture
def uow() -> FakeUnitOfWork:
    uow = FakeUnitOfWork()
    uow.inventory.seed("A", "WH", 0, priority=10)
    uow.inventory.seed("A", "STORE", 0, priority=50)
    uow.inventory.seed("B", "WH", 0, priority=10)
    return uow


def place(uow: FakeUnitOfWork, external_id: str, placed_at: str, **lines: int) -> Order:
    doc = order_doc(external_id, list(lines.items()))
    doc["placed_at"] = placed_at
    return place_order(uow, PlaceOrder.model_validate(doc), channel="web")[0]


def adjust(uow: FakeUnitOfWork, *adjustments: dict[str, Any]) -> None:
    adjust_inventory(uow, AdjustInventory.model_validate({"adjustments": list(adjustments)}))


def allocated_events(uow: FakeUnitOfWork, since: int) -> dict[str, OrderAllocated]:
    return {
        e.aggregate_id: e.payload
        for e in uow.committed_events[since:]
        if isinstance(e.payload, OrderAllocated)
    }


def test_stock_that_arrives_goes_to_the_oldest_orders_first_across_locations(
    uow: FakeUnitOfWork,
) -> None:
    # Placed out of their queue order: the middle one arrives last.
    newest = place(uow, "N", "2026-11-26T12:00:00Z", A=2)
    oldest = place(uow, "O", "2026-11-26T10:00:00Z", A=2)
    middle = place(uow, "M", "2026-11-26T11:00:00Z", A=2)
    seen = len(uow.committed_events)

    # Three units, at two locations: the oldest takes two (one place covers it), the
    # middle one the third; the newest waits.
    adjust(
        uow,
        {"sku": "A", "location": "WH", "set_on_hand": 2},
        {"sku": "A", "location": "STORE", "set_on_hand": 1},
    )

    got = {o.external_id: uow.stored(o.id) for o in (oldest, middle, newest)}
    assert [(r.location, r.quantity) for r in got["O"].reservations] == [("WH", 2)]
    assert [(r.location, r.quantity) for r in got["M"].reservations] == [("STORE", 1)]
    assert got["N"].reservations == []
    assert [got[k].status for k in "OMN"] == [
        OrderStatus.ALLOCATED,
        OrderStatus.PARTIALLY_ALLOCATED,
        OrderStatus.BACKORDERED,
    ]
    assert [got[k].version for k in "OMN"] == [2, 2, 1]
    announced = allocated_events(uow, seen)
    assert set(announced) == {str(oldest.id), str(middle.id)}
    short = [
        e.payload for e in uow.committed_events[seen:] if isinstance(e.payload, OrderBackordered)
    ]
    assert [(b.order_id, [ln.quantity for ln in b.lines]) for b in short] == [(str(middle.id), [1])]
    fills = [c for c in uow.changes.entries if c["command"] == "fill"]
    assert [(c["order_id"], c["version"], c["status_from"]) for c in fills] == [
        (oldest.id, 2, "backordered"),
        (middle.id, 2, "backordered"),
    ]
    # Locked in id order (one order for every writer), whatever the queue's order.
    assert uow.orders.locked == [sorted([oldest.id, middle.id])]
    for location in ("WH", "STORE"):
        lv = uow.inventory.level("A", location)
        assert lv.reserved == lv.on_hand == uow.reserved_by_orders("A", location)


def test_only_the_orders_the_new_stock_can_serve_are_locked(uow: FakeUnitOfWork) -> None:
    orders = [place(uow, f"Q-{i}", f"2026-11-26T10:0{i}:00Z", A=1) for i in range(6)]

    adjust(uow, {"sku": "A", "location": "WH", "delta": 2})

    assert uow.orders.locked == [sorted(o.id for o in orders[:2])]
    assert [uow.stored(o.id).status for o in orders].count(OrderStatus.ALLOCATED) == 2


def test_a_part_shipped_orders_remaining_backorder_is_filled_and_it_stays_partly_fulfilled(
    uow: FakeUnitOfWork,
) -> None:
    adjust(uow, {"sku": "A", "location": "WH", "set_on_hand": 1})
    order = place(uow, "P", "2026-11-26T10:00:00Z", A=3)
    cmd = RecordShipment.model_validate(
        {
            "order_id": str(order.id),
            "location": "WH",
            "carrier": "DHL",
            "tracking_number": "T1",
            "lines": [{"sku": "A", "quantity": 1}],
        }
    )
    record_shipment(uow, cmd)

    adjust(uow, {"sku": "A", "location": "STORE", "delta": 5})

    stored = uow.stored(order.id)
    assert stored.status is OrderStatus.PARTIALLY_FULFILLED
    [line] = stored.lines
    assert (line.shipped, line.allocated, line.backordered) == (1, 2, 0)
    assert uow.inventory.level("A", "STORE").reserved == 2


def test_a_multi_sku_order_takes_only_the_skus_that_arrived(uow: FakeUnitOfWork) -> None:
    order = place(uow, "AB", "2026-11-26T10:00:00Z", A=1, B=1)

    adjust(uow, {"sku": "B", "location": "WH", "set_on_hand": 4})

    stored = uow.stored(order.id)
    assert [(r.sku, r.quantity) for r in stored.reservations] == [("B", 1)]
    assert stored.status is OrderStatus.PARTIALLY_ALLOCATED


def test_stock_that_falls_or_has_nobody_waiting_locks_no_order(uow: FakeUnitOfWork) -> None:
    adjust(uow, {"sku": "A", "location": "WH", "set_on_hand": 5})
    place(uow, "F", "2026-11-26T10:00:00Z", A=1)

    adjust(uow, {"sku": "A", "location": "WH", "delta": -1})
    adjust(uow, {"sku": "B", "location": "WH", "delta": 3})

    assert uow.orders.locked == []


def test_a_shrink_and_a_rise_in_one_adjustment_save_each_order_once(uow: FakeUnitOfWork) -> None:
    """WH drops to 0 (the order's reservation is taken back) while STORE gets 2: the order
    is re-allocated at STORE by the shrink, and the fill finds nothing left to do for it."""
    adjust(uow, {"sku": "A", "location": "WH", "set_on_hand": 2})
    order = place(uow, "S", "2026-11-26T10:00:00Z", A=2)
    waiting = place(uow, "W", "2026-11-26T11:00:00Z", A=1)
    seen = len(uow.committed_events)

    adjust(
        uow,
        {"sku": "A", "location": "WH", "set_on_hand": 0},
        {"sku": "A", "location": "STORE", "set_on_hand": 3},
    )

    assert [(r.location, r.quantity) for r in uow.stored(order.id).reservations] == [("STORE", 2)]
    assert [(r.location, r.quantity) for r in uow.stored(waiting.id).reservations] == [("STORE", 1)]
    assert (uow.stored(order.id).version, uow.stored(waiting.id).version) == (2, 2)
    assert sorted(allocated_events(uow, seen)) == sorted([str(order.id), str(waiting.id)])
    commands = {c["order_id"]: c["command"] for c in uow.changes.entries[-2:]}
    assert commands == {order.id: "reallocate", waiting.id: "fill"}


def test_a_shrink_and_a_fill_lock_their_orders_in_one_batch_in_id_order(
    uow: FakeUnitOfWork,
) -> None:
    """Two orders hold A and wait for B. One adjustment takes A away (the shrink takes the
    newest reservation first) and brings B (the fill serves the oldest first): every order
    it changes is locked at once, in id order. Locked one by one in the shrink's order, or
    in two batches, it could wait on a fill that locked the same orders the other way
    round: a deadlock."""
    adjust(uow, {"sku": "A", "location": "WH", "set_on_hand": 2})
    orders = [place(uow, f"O-{i}", f"2026-11-26T1{i}:00:00Z", A=1, B=1) for i in range(2)]
    uow.orders.locked.clear()

    adjust(
        uow,
        {"sku": "A", "location": "WH", "set_on_hand": 0},
        {"sku": "B", "location": "WH", "set_on_hand": 2},
    )

    assert uow.orders.locked == [sorted(o.id for o in orders)]
    for order in orders:
        stored = uow.stored(order.id)
        assert [(r.sku, r.quantity) for r in stored.reservations] == [("B", 1)]
        assert stored.version == 2
