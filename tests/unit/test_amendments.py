"""Edits and cancellations before shipment (domain/amendments.py) over the fake unit of work:
each rule, what is taken from where, the events, and the money of the units taken."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.amendments import cancel_order, edit_order
from domain.change_commands import CancelOrder, EditOrder
from domain.commands import AdjustInventory, PlaceOrder, RecordShipment
from domain.errors import Conflict, Forbidden, NotFound, ValidationFailed
from domain.events import (
    InventoryChanged,
    OrderAllocated,
    OrderAmended,
    OrderBackordered,
    OrderCancelled,
)
from domain.line_money import live_totals
from domain.money import Money
from domain.orders import Order
from domain.services import adjust_inventory, place_order
from domain.shipping import record_shipment
from domain.status import OrderStatus
from tests.factories import CONTRACT_ORDER, order_doc
from tests.unit.fakes import FakeUnitOfWork


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork()


def place(uow: FakeUnitOfWork, lines: list[tuple[str, int]], **seed: int) -> Order:
    for sku, on_hand in seed.items():
        uow.inventory.seed(sku, "WH", on_hand)
    order, _ = place_order(
        uow, PlaceOrder.model_validate(order_doc(f"X-{uuid.uuid4()}", lines)), channel="web"
    )
    return order


def cancel(uow: FakeUnitOfWork, order: Order, body: dict[str, Any] | None = None) -> Order:
    return cancel_order(uow, order.id, CancelOrder.model_validate(body or {}))


def edit(uow: FakeUnitOfWork, order: Order, body: dict[str, Any]) -> Order:
    return edit_order(uow, order.id, EditOrder.model_validate(body))


def ship(uow: FakeUnitOfWork, order: Order, location: str = "WH", **lines: int) -> None:
    cmd = RecordShipment.model_validate(
        {
            "order_id": str(order.id),
            "location": location,
            "carrier": "DHL",
            "tracking_number": f"T-{uuid.uuid4()}",
            "lines": [{"sku": sku, "quantity": q} for sku, q in lines.items()],
        }
    )
    record_shipment(uow, cmd)


def events_since(uow: FakeUnitOfWork, mark: int) -> list[Any]:
    return [e.payload for e in uow.committed_events[mark:]]


def types_since(uow: FakeUnitOfWork, mark: int) -> list[str]:
    return [e.event_type for e in uow.committed_events[mark:]]


def one(payloads: list[Any], kind: type) -> Any:
    [found] = [p for p in payloads if isinstance(p, kind)]
    return found


def assert_stock_matches_reservations(uow: FakeUnitOfWork) -> None:
    for (sku, location), lv in uow.inventory.levels.items():
        assert lv.reserved == uow.reserved_by_orders(sku, location), (sku, location)


# cancel_order


def test_cancelling_a_whole_unshipped_order_cancels_it_and_gives_its_stock_back(
    uow: FakeUnitOfWork,
) -> None:
    order = place(uow, [("A", 2), ("B", 1)], A=5, B=5)
    mark = len(uow.committed_events)

    cancelled = cancel(uow, order, {"reason": "customer changed their mind"})

    stored = uow.stored(order.id)
    assert cancelled.status is stored.status is OrderStatus.CANCELLED
    assert stored.version == 2
    assert [ln.cancelled for ln in stored.lines] == [2, 1]
    assert stored.reservations == []
    assert uow.inventory.level("A", "WH").reserved == 0
    assert uow.inventory.level("B", "WH").reserved == 0
    assert types_since(uow, mark) == [
        "order.cancelled",
        "order.allocated",  # none left: the WMS cancels its fulfillment orders
        "inventory.changed",
        "inventory.changed",
    ]
    payloads = events_since(uow, mark)
    notice = one(payloads, OrderCancelled)
    assert (notice.whole, notice.reason, notice.status) == (
        True,
        "customer changed their mind",
        "cancelled",
    )
    assert [(ln.line_no, ln.sku, ln.quantity, ln.net) for ln in notice.lines] == [
        (1, "A", 2, "20.00"),
        (2, "B", 1, "10.00"),
    ]
    assert notice.totals == order.totals  # the whole: the totals stay for the record
    assert one(payloads, OrderAllocated).reservations == []
    assert {p.sku: p.atp for p in payloads if isinstance(p, InventoryChanged)} == {"A": 5, "B": 5}
    assert uow.changes.entries[-1] == {
        "order_id": order.id,
        "version": 2,
        "command": "cancel",
        "status_from": "allocated",
        "status_to": "cancelled",
        "detail": {"reason": "customer changed their mind"},
    }


def test_a_cancellation_takes_the_backordered_units_before_the_reserved_ones(
    uow: FakeUnitOfWork,
) -> None:
    order = place(uow, [("A", 3)], A=1)  # 1 reserved, 2 backordered
    mark = len(uow.committed_events)

    cancel(uow, order, {"lines": [{"line_no": 1, "quantity": 2}]})

    stored = uow.stored(order.id)
    assert stored.status is OrderStatus.ALLOCATED  # what is left is all reserved
    assert (stored.lines[0].live, stored.lines[0].allocated) == (1, 1)
    assert [r.quantity for r in stored.reservations] == [1]
    assert uow.inventory.level("A", "WH").reserved == 1
    # The reservations did not change and nothing is short any more: no stock moved.
    assert types_since(uow, mark) == ["order.cancelled"]


def test_a_cancellation_takes_the_newest_reservation_first(uow: FakeUnitOfWork) -> None:
    uow.inventory.seed("A", "WH-1", 3, priority=10)
    uow.inventory.seed("A", "WH-2", 3, priority=20)
    order, _ = place_order(
        uow, PlaceOrder.model_validate(order_doc("N", [("A", 3)])), channel="web"
    )
    # A count at WH-1 backorders 2 of its reservation; they are re-allocated at WH-2, later.
    adjust_inventory(
        uow,
        AdjustInventory.model_validate(
            {"adjustments": [{"sku": "A", "location": "WH-1", "set_on_hand": 1}]}
        ),
    )
    assert sorted((r.location, r.quantity) for r in uow.stored(order.id).reservations) == [
        ("WH-1", 1),
        ("WH-2", 2),
    ]
    mark = len(uow.committed_events)

    cancel(uow, order, {"lines": [{"line_no": 1, "quantity": 2}]})

    assert [(r.location, r.quantity) for r in uow.stored(order.id).reservations] == [("WH-1", 1)]
    assert uow.inventory.level("A", "WH-2").reserved == 0
    assert uow.inventory.level("A", "WH-1").reserved == 1
    allocated = one(events_since(uow, mark), OrderAllocated)
    assert [(r.location, r.quantity) for r in allocated.reservations] == [("WH-1", 1)]
    assert_stock_matches_reservations(uow)


def test_cancelling_the_rest_of_a_part_shipped_order_fulfils_it(uow: FakeUnitOfWork) -> None:
    order = place(uow, [("A", 2), ("B", 2)], A=5, B=5)
    ship(uow, order, A=2, B=1)
    mark = len(uow.committed_events)

    cancel(uow, order)

    stored = uow.stored(order.id)
    assert stored.status is OrderStatus.FULFILLED
    assert [(ln.shipped, ln.cancelled) for ln in stored.lines] == [(2, 0), (1, 1)]
    notice = one(events_since(uow, mark), OrderCancelled)
    assert not notice.whole
    assert [(ln.line_no, ln.quantity) for ln in notice.lines] == [(2, 1)]
    # What is left is what was shipped: 3 × 10.00 and the shipping (4.90 + 1.13 tax).
    assert notice.totals["grand_total"] == stored.totals["grand_total"] == "36.03"
    assert one(events_since(uow, mark), OrderAllocated).status == "fulfilled"


def test_cancelling_more_than_is_unshipped_is_a_conflict_naming_the_line_and_writes_nothing(
    uow: FakeUnitOfWork,
) -> None:
    order = place(uow, [("A", 1), ("B", 3)], A=5, B=5)
    ship(uow, order, B=2)
    before = uow.state()

    with pytest.raises(Conflict, match=r"line 2: 1 left to cancel, not 2; 2 already shipped"):
        cancel(
            uow, order, {"lines": [{"line_no": 1, "quantity": 1}, {"line_no": 2, "quantity": 2}]}
        )

    assert uow.state() == before


def test_cancelling_an_order_with_nothing_left_is_a_conflict(uow: FakeUnitOfWork) -> None:
    order = place(uow, [("A", 1)], A=5)
    cancel(uow, order)
    commits = uow.commits

    with pytest.raises(Conflict, match="nothing left to cancel"):
        cancel(uow, order)
    with pytest.raises(Conflict, match="line 1: 0 left to cancel"):
        cancel(uow, order, {"lines": [{"line_no": 1, "quantity": 1}]})
    assert uow.commits == commits


def test_an_unknown_line_is_invalid_and_another_channels_order_is_forbidden(
    uow: FakeUnitOfWork,
) -> None:
    order = place(uow, [("A", 1)], A=5)

    with pytest.raises(ValidationFailed, match="no line 7") as invalid:
        cancel(uow, order, {"lines": [{"line_no": 7, "quantity": 1}]})
    assert invalid.value.extra["errors"][0]["field"] == "lines.0.line_no"
    with pytest.raises(Forbidden):
        cancel_order(uow, order.id, CancelOrder(), channel="pos")
    with pytest.raises(NotFound):
        cancel_order(uow, uuid.uuid4(), CancelOrder())


def test_a_held_order_is_cancelled_without_a_word_to_the_wms(uow: FakeUnitOfWork) -> None:
    order = place(uow, [("A", 2)], A=5)
    held = uow.orders.orders[order.id]
    held.holds, held.status = ["amount_over"], OrderStatus.ON_HOLD
    mark = len(uow.committed_events)

    cancel(uow, order)

    assert uow.stored(order.id).status is OrderStatus.CANCELLED
    assert types_since(uow, mark) == ["order.cancelled", "inventory.changed"]


# edit_order


def test_lowering_a_quantity_releases_the_last_units_and_amends_the_order(
    uow: FakeUnitOfWork,
) -> None:
    order = place(uow, [("A", 3), ("B", 1)], A=5, B=5)
    mark = len(uow.committed_events)

    edited = edit(uow, order, {"lines": [{"line_no": 1, "quantity": 1}], "reason": "phone call"})

    stored = uow.stored(order.id)
    assert edited.version == stored.version == 2
    assert (stored.lines[0].live, stored.lines[0].cancelled, stored.lines[0].allocated) == (1, 2, 1)
    assert uow.inventory.level("A", "WH").reserved == 1
    assert types_since(uow, mark) == ["order.amended", "order.allocated", "inventory.changed"]
    amended = one(events_since(uow, mark), OrderAmended)
    assert [(ln.line_no, ln.quantity) for ln in amended.lines] == [(1, 1), (2, 1)]
    assert amended.reason == "phone call"
    assert amended.totals["grand_total"] == stored.totals["grand_total"] == "26.03"
    assert uow.changes.entries[-1]["command"] == "edit"
    assert uow.changes.entries[-1]["detail"] == {
        "lines": [{"line_no": 1, "quantity": 1}],
        "reason": "phone call",
    }


def test_a_quantity_of_zero_removes_the_line(uow: FakeUnitOfWork) -> None:
    order = place(uow, [("A", 1), ("B", 2)], A=5, B=5)

    edit(uow, order, {"lines": [{"line_no": 2, "quantity": 0}]})

    stored = uow.stored(order.id)
    assert [ln.live for ln in stored.lines] == [1, 0]
    assert [r.sku for r in stored.reservations] == ["A"]
    assert uow.inventory.level("B", "WH").reserved == 0
    assert stored.status is OrderStatus.ALLOCATED


def test_a_new_address_reaches_the_wms_with_the_same_reservations(uow: FakeUnitOfWork) -> None:
    order = place(uow, [("A", 1)], A=5)
    address = {**CONTRACT_ORDER["shipping_address"], "line1": "Rua Nova 2", "city": "Porto"}
    mark = len(uow.committed_events)

    edit(uow, order, {"shipping_address": address})

    assert types_since(uow, mark) == ["order.amended", "order.allocated"]
    allocated = one(events_since(uow, mark), OrderAllocated)
    assert allocated.shipping_address == {**address, "line2": None, "region": None}
    assert [(r.location, r.quantity) for r in allocated.reservations] == [("WH", 1)]
    assert uow.stored(order.id).shipping_address["city"] == "Porto"
    assert uow.inventory.level("A", "WH").reserved == 1


def test_the_same_edit_again_writes_nothing(uow: FakeUnitOfWork) -> None:
    order = place(uow, [("A", 2)], A=5)
    edit(uow, order, {"lines": [{"line_no": 1, "quantity": 1}]})
    commits, events = uow.commits, len(uow.committed_events)

    again = edit(uow, order, {"lines": [{"line_no": 1, "quantity": 1}]})

    assert again.version == 2
    assert (uow.commits, len(uow.committed_events)) == (commits, events)


@pytest.mark.parametrize(
    ("body", "error", "message"),
    [
        ({"lines": [{"line_no": 1, "quantity": 3}]}, ValidationFailed, "3 is more than its 2"),
        ({"lines": [{"line_no": 9, "quantity": 0}]}, ValidationFailed, "no line 9"),
        ({"lines": [{"line_no": 2, "quantity": 0}]}, Conflict, "line 2: 1 already shipped"),
        (
            {"lines": [{"line_no": 1, "quantity": 1}, {"line_no": 2, "quantity": 1}]},
            Conflict,
            None,
        ),
    ],
)
def test_an_edit_refused_writes_nothing(
    uow: FakeUnitOfWork, body: dict[str, Any], error: type[Exception], message: str | None
) -> None:
    order = place(uow, [("A", 2), ("B", 2)], A=5, B=5)
    ship(uow, order, B=1)
    if message is None:  # line 2 to 1 is fine, but line 1 is first asked for more
        body = {"lines": [{"line_no": 2, "quantity": 1}, {"line_no": 1, "quantity": 5}]}
        error, message = ValidationFailed, "5 is more than its 2"
    before = uow.state()

    with pytest.raises(error, match=message):
        edit(uow, order, body)

    assert uow.state() == before


def test_an_edit_that_would_leave_nothing_is_refused(uow: FakeUnitOfWork) -> None:
    order = place(uow, [("A", 2)], A=5)
    with pytest.raises(Conflict, match="cancel it instead"):
        edit(uow, order, {"lines": [{"line_no": 1, "quantity": 0}]})


@pytest.mark.parametrize("closed", ["cancel", "ship"])
def test_a_cancelled_or_fulfilled_order_cannot_be_edited(uow: FakeUnitOfWork, closed: str) -> None:
    order = place(uow, [("A", 2)], A=5)
    if closed == "cancel":
        cancel(uow, order)
    else:
        ship(uow, order, A=2)
    status = uow.stored(order.id).status.value

    with pytest.raises(Conflict, match=f"is {status}: it cannot be edited"):
        edit(uow, order, {"shipping_address": CONTRACT_ORDER["shipping_address"]})


def test_a_held_order_is_edited_and_stays_held_without_a_word_to_the_wms(
    uow: FakeUnitOfWork,
) -> None:
    order = place(uow, [("A", 2)], A=5)
    held = uow.orders.orders[order.id]
    held.holds, held.status = ["amount_over"], OrderStatus.ON_HOLD
    mark = len(uow.committed_events)

    edit(uow, order, {"lines": [{"line_no": 1, "quantity": 1}]})

    assert uow.stored(order.id).status is OrderStatus.ON_HOLD
    assert types_since(uow, mark) == ["order.amended", "inventory.changed"]


def test_a_partly_backordered_line_lowered_tells_the_wms_what_is_still_short(
    uow: FakeUnitOfWork,
) -> None:
    order = place(uow, [("A", 5)], A=1)  # 1 reserved, 4 short
    mark = len(uow.committed_events)

    edit(uow, order, {"lines": [{"line_no": 1, "quantity": 3}]})

    assert types_since(uow, mark) == ["order.amended", "order.backordered"]
    short = one(events_since(uow, mark), OrderBackordered)
    assert [(ln.line_no, ln.quantity) for ln in short.lines] == [(1, 2)]


# The money of what is taken


def money_order(quantity: int, discount: str, tax: str) -> dict[str, Any]:
    doc = order_doc("M", [("A", quantity)])
    line = doc["lines"][0]
    line.update(unit_price="3.33", discount=discount, tax=tax)
    grand = Money.parse("3.33", "EUR").times(quantity) - Money.parse(discount, "EUR")
    grand += Money.parse(tax, "EUR") + Money.parse("6.03", "EUR")
    doc["totals"] = {"grand_total": str(grand)}
    doc["payment"]["amount"] = str(grand)
    return doc


@given(
    quantity=st.integers(1, 12),
    discount=st.integers(0, 999),
    tax=st.integers(0, 999),
    cuts=st.lists(st.integers(1, 4), min_size=1, max_size=6),
)
def test_the_money_of_every_cancellation_and_of_what_is_left_adds_up_to_the_line(
    quantity: int, discount: int, tax: int, cuts: list[int]
) -> None:
    uow = FakeUnitOfWork()
    uow.inventory.seed("A", "WH", 100)
    discount = min(discount, 333 * quantity)  # at most the line's price

    def text(minor: int) -> str:
        return f"{minor // 100}.{minor % 100:02d}"

    document = money_order(quantity, text(discount), text(tax))
    order, _ = place_order(uow, PlaceOrder.model_validate(document), channel="web")
    line = order.lines[0]
    taken: list[Any] = []
    for cut in cuts:
        left = uow.stored(order.id).lines[0].unshipped
        if left == 0:
            break
        mark = len(uow.committed_events)
        cancel(uow, order, {"lines": [{"line_no": 1, "quantity": min(cut, left)}]})
        taken += one(events_since(uow, mark), OrderCancelled).lines
    stored = uow.stored(order.id)
    eur = "EUR"

    def total(name: str) -> int:
        return sum(Money.parse(getattr(ln, name), eur).minor for ln in taken)

    assert sum(ln.quantity for ln in taken) == stored.lines[0].cancelled
    left = live_totals(stored)
    assert total("discount") + left.discount_total.minor == line.discount.minor
    assert total("tax") + left.tax_total.minor - 113 == line.tax.minor  # shipping tax 1.13
    assert total("net") + left.subtotal.minor - left.discount_total.minor == (
        line.unit_price.minor * quantity - line.discount.minor
    )
    grand = Money.parse(order.totals["grand_total"], eur).minor
    assert total("net") + total("tax") + left.grand_total.minor == grand
