"""The order aggregate: plans become reservations, releases become backorders."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from domain.allocation import Allocation, Demand, Plan
from domain.commands import PlaceOrder
from domain.errors import IllegalTransition
from domain.money import Money
from domain.normalize import build_order
from domain.orders import Order, fingerprint
from domain.status import OrderStatus
from tests.factories import order_doc


def new_order(*lines: tuple[str, int]) -> Order:
    document = order_doc(lines=list(lines) or None)
    return build_order(PlaceOrder.model_validate(document), channel="web")


def test_a_new_line_is_wholly_backordered() -> None:
    order = new_order(("A", 3))
    assert order.lines[0].backordered == 3
    assert order.backorder_demands() == [Demand(1, "A", 3)]


def test_a_line_total_is_price_times_quantity_less_discount_plus_tax() -> None:
    order = new_order()
    assert order.lines[0].total == Money.parse("48.95", "EUR")


def test_a_plan_that_covers_everything_allocates_the_order() -> None:
    order = new_order(("A", 2), ("B", 1))
    plan = Plan((Allocation(1, "A", "WH", 2), Allocation(2, "B", "WH", 1)), {})

    reservations = order.apply_plan(plan)

    assert order.status is OrderStatus.ALLOCATED
    assert [(r.line_no, r.location, r.quantity) for r in reservations] == [
        (1, "WH", 2),
        (2, "WH", 1),
    ]
    assert all(r.order_id == order.id for r in reservations)
    assert order.reservations == reservations
    assert order.backorder_demands() == []


def test_a_plan_that_covers_part_partially_allocates_the_order() -> None:
    order = new_order(("A", 2), ("B", 1))
    order.apply_plan(Plan((Allocation(1, "A", "WH", 1),), {1: 1, 2: 1}))
    assert order.status is OrderStatus.PARTIALLY_ALLOCATED
    assert order.backorder_demands() == [Demand(1, "A", 1), Demand(2, "B", 1)]


def test_an_empty_plan_backorders_the_order() -> None:
    order = new_order(("A", 2))
    assert order.apply_plan(Plan((), {1: 2})) == []
    assert order.status is OrderStatus.BACKORDERED


def test_a_plan_cannot_reserve_more_than_a_line_still_needs() -> None:
    order = new_order(("A", 2))
    with pytest.raises(ValueError):
        order.apply_plan(Plan((Allocation(1, "A", "WH", 3),), {}))


def test_releasing_part_of_a_reservation_backorders_that_much() -> None:
    order = new_order(("A", 3))
    [reservation] = order.apply_plan(Plan((Allocation(1, "A", "WH", 3),), {}))

    order.release(reservation, 1)

    assert reservation.quantity == 2
    assert order.reservations == [reservation]
    assert order.lines[0].allocated == 2
    assert order.lines[0].backordered == 1


def test_releasing_a_whole_reservation_removes_it() -> None:
    order = new_order(("A", 3))
    [reservation] = order.apply_plan(Plan((Allocation(1, "A", "WH", 3),), {}))

    order.release(reservation, 3)

    assert order.reservations == []
    assert order.backorder_demands() == [Demand(1, "A", 3)]


def test_a_released_line_is_allocated_again_by_the_next_plan() -> None:
    order = new_order(("A", 3))
    [reservation] = order.apply_plan(Plan((Allocation(1, "A", "WH", 3),), {}))
    order.release(reservation, 3)

    order.apply_plan(Plan((Allocation(1, "A", "STORE", 3),), {}))

    assert order.status is OrderStatus.ALLOCATED
    assert [(r.location, r.quantity) for r in order.reservations] == [("STORE", 3)]


def test_an_order_moves_only_through_the_transition_table() -> None:
    order = new_order(("A", 1))
    order.move_to(OrderStatus.CANCELLED)
    with pytest.raises(IllegalTransition):
        order.move_to(OrderStatus.ALLOCATED)
    assert order.status is OrderStatus.CANCELLED


def test_a_plan_for_a_cancelled_order_is_refused() -> None:
    order = new_order(("A", 1))
    order.move_to(OrderStatus.CANCELLED)
    with pytest.raises(IllegalTransition):
        order.apply_plan(Plan((), {1: 1}))


def test_bump_advances_the_version_by_one() -> None:
    order = new_order()
    order.bump()
    assert order.version == 2


def test_the_fingerprint_does_not_depend_on_key_order() -> None:
    content = {"a": 1, "b": [1, 2], "c": {"x": None, "y": "z"}}
    reordered = {"c": {"y": "z", "x": None}, "b": [1, 2], "a": 1}
    assert fingerprint(content) == fingerprint(reordered)


def test_the_fingerprint_depends_on_every_value() -> None:
    content: dict[str, Any] = {"a": 1, "b": [1, 2], "c": {"x": None, "y": "z"}}
    changes: dict[str, Callable[[dict[str, Any]], None]] = {
        "a": lambda d: d.update(a=2),
        "b order": lambda d: d.update(b=[2, 1]),
        "b item": lambda d: d["b"].append(3),
        "c.x": lambda d: d["c"].update(x=0),
        "c.y": lambda d: d["c"].update(y="Z"),
        "a key": lambda d: d.update(d2=d.pop("a")),
        "type": lambda d: d.update(a="1"),
    }
    seen = {fingerprint(content)}
    for name, change in changes.items():
        changed = copy.deepcopy(content)
        change(changed)
        assert changed != content, name
        seen.add(fingerprint(changed))
    assert len(seen) == 1 + len(changes)  # every change gives a fingerprint of its own
    assert all(len(f) == 64 for f in seen)
