"""The order state machine: only the transitions in the table, staying put is allowed."""

from __future__ import annotations

import pytest

from domain.errors import Conflict, IllegalTransition
from domain.status import OrderStatus, can_transition, check_transition

S = OrderStatus

# Written out by hand (not read from domain.status.TRANSITIONS): every move between two
# different statuses an order may make, and every one it may not. 9 statuses, 72 moves.
STATUSES = {
    "placed",
    "on_hold",
    "allocated",
    "partially_allocated",
    "backordered",
    "partially_fulfilled",
    "fulfilled",
    "delivered",
    "cancelled",
}
ALLOWED = {
    ("placed", "allocated"),
    ("placed", "partially_allocated"),
    ("placed", "backordered"),
    ("placed", "fulfilled"),  # a store counter sale
    ("placed", "cancelled"),
    ("placed", "on_hold"),  # screened at acceptance
    ("on_hold", "allocated"),  # released
    ("on_hold", "partially_allocated"),
    ("on_hold", "backordered"),
    ("on_hold", "cancelled"),
    ("allocated", "partially_allocated"),
    ("allocated", "backordered"),
    ("allocated", "partially_fulfilled"),
    ("allocated", "fulfilled"),
    ("allocated", "cancelled"),
    ("partially_allocated", "allocated"),
    ("partially_allocated", "backordered"),
    ("partially_allocated", "partially_fulfilled"),
    ("partially_allocated", "fulfilled"),
    ("partially_allocated", "cancelled"),
    ("backordered", "allocated"),
    ("backordered", "partially_allocated"),
    ("backordered", "cancelled"),
    ("partially_fulfilled", "fulfilled"),
    ("partially_fulfilled", "delivered"),
    ("fulfilled", "delivered"),
}
FORBIDDEN = {
    ("on_hold", "placed"),
    ("on_hold", "partially_fulfilled"),  # a held order's WMS has nothing to ship
    ("on_hold", "fulfilled"),
    ("on_hold", "delivered"),
    ("allocated", "on_hold"),  # holds are placed at acceptance only
    ("partially_allocated", "on_hold"),
    ("backordered", "on_hold"),
    ("partially_fulfilled", "on_hold"),
    ("fulfilled", "on_hold"),
    ("delivered", "on_hold"),
    ("cancelled", "on_hold"),
    ("placed", "partially_fulfilled"),
    ("placed", "delivered"),
    ("allocated", "placed"),
    ("allocated", "delivered"),
    ("partially_allocated", "placed"),
    ("partially_allocated", "delivered"),
    ("backordered", "placed"),
    ("backordered", "partially_fulfilled"),
    ("backordered", "fulfilled"),
    ("backordered", "delivered"),
    ("partially_fulfilled", "placed"),
    ("partially_fulfilled", "allocated"),
    ("partially_fulfilled", "partially_allocated"),
    ("partially_fulfilled", "backordered"),
    ("partially_fulfilled", "cancelled"),
    ("fulfilled", "placed"),
    ("fulfilled", "allocated"),
    ("fulfilled", "partially_allocated"),
    ("fulfilled", "backordered"),
    ("fulfilled", "partially_fulfilled"),
    ("fulfilled", "cancelled"),
    ("delivered", "placed"),
    ("delivered", "allocated"),
    ("delivered", "partially_allocated"),
    ("delivered", "backordered"),
    ("delivered", "partially_fulfilled"),
    ("delivered", "fulfilled"),
    ("delivered", "cancelled"),
    ("cancelled", "placed"),
    ("cancelled", "allocated"),
    ("cancelled", "partially_allocated"),
    ("cancelled", "backordered"),
    ("cancelled", "partially_fulfilled"),
    ("cancelled", "fulfilled"),
    ("cancelled", "delivered"),
}


def test_the_statuses_are_the_nine_written_here() -> None:
    assert {s.value for s in S} == STATUSES


def test_the_hand_written_table_names_every_move_once() -> None:
    moves = {(a, b) for a in STATUSES for b in STATUSES if a != b}
    assert len(ALLOWED) == 26 and len(FORBIDDEN) == 46
    assert not ALLOWED & FORBIDDEN
    assert ALLOWED | FORBIDDEN == moves


def test_the_domain_allows_exactly_the_moves_written_here() -> None:
    allowed = {(a.value, b.value) for a in S for b in S if a != b and can_transition(a, b)}
    assert allowed == ALLOWED


@pytest.mark.parametrize(("current", "target"), sorted(ALLOWED))
def test_every_allowed_move_is_accepted(current: str, target: str) -> None:
    assert can_transition(S(current), S(target))
    check_transition(S(current), S(target))


@pytest.mark.parametrize("status", sorted(STATUSES))
def test_staying_put_is_allowed(status: str) -> None:
    assert can_transition(S(status), S(status))
    check_transition(S(status), S(status))


@pytest.mark.parametrize(("current", "target"), sorted(FORBIDDEN))
def test_every_forbidden_move_raises(current: str, target: str) -> None:
    assert not can_transition(S(current), S(target))
    with pytest.raises(IllegalTransition):
        check_transition(S(current), S(target))


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.DELIVERED, S.ALLOCATED),
        (S.FULFILLED, S.CANCELLED),
        (S.PARTIALLY_FULFILLED, S.CANCELLED),
        (S.DELIVERED, S.CANCELLED),
        (S.BACKORDERED, S.FULFILLED),
        (S.FULFILLED, S.PLACED),
        (S.ALLOCATED, S.PLACED),
    ],
)
def test_a_sample_of_illegal_transitions_raise(current: S, target: S) -> None:
    with pytest.raises(IllegalTransition):
        check_transition(current, target)


@pytest.mark.parametrize("target", [s for s in S if s is not S.CANCELLED])
def test_a_cancelled_order_goes_nowhere(target: S) -> None:
    with pytest.raises(IllegalTransition):
        check_transition(S.CANCELLED, target)


def test_a_store_counter_sale_goes_from_placed_straight_to_fulfilled() -> None:
    check_transition(S.PLACED, S.FULFILLED)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.ALLOCATED, S.PARTIALLY_ALLOCATED),
        (S.ALLOCATED, S.BACKORDERED),
        (S.PARTIALLY_ALLOCATED, S.ALLOCATED),
        (S.BACKORDERED, S.ALLOCATED),
        (S.BACKORDERED, S.PARTIALLY_ALLOCATED),
    ],
)
def test_allocation_moves_back_and_forth_as_stock_arrives_or_shrinks(current: S, target: S) -> None:
    check_transition(current, target)


def test_an_illegal_transition_is_a_conflict_naming_both_statuses() -> None:
    with pytest.raises(IllegalTransition) as raised:
        check_transition(S.DELIVERED, S.ALLOCATED)
    assert isinstance(raised.value, Conflict)
    assert "delivered" in raised.value.detail
    assert "allocated" in raised.value.detail
    assert raised.value.extra == {"current": "delivered", "target": "allocated"}
