"""The order state machine: only the transitions in the table, staying put is allowed."""

from __future__ import annotations

import pytest

from domain.errors import Conflict, IllegalTransition
from domain.status import TRANSITIONS, OrderStatus, can_transition, check_transition

S = OrderStatus

ALLOWED = sorted(
    (current, target) for current, targets in TRANSITIONS.items() for target in targets
)
FORBIDDEN = sorted(
    (current, target)
    for current in S
    for target in S
    if target != current and target not in TRANSITIONS[current]
)


def test_every_status_has_a_row_in_the_table() -> None:
    assert set(TRANSITIONS) == set(S)


@pytest.mark.parametrize(("current", "target"), ALLOWED)
def test_every_transition_in_the_table_is_accepted(current: S, target: S) -> None:
    assert can_transition(current, target)
    check_transition(current, target)


@pytest.mark.parametrize("status", list(S))
def test_staying_put_is_allowed(status: S) -> None:
    assert can_transition(status, status)
    check_transition(status, status)


@pytest.mark.parametrize(("current", "target"), FORBIDDEN)
def test_every_transition_outside_the_table_raises(current: S, target: S) -> None:
    assert not can_transition(current, target)
    with pytest.raises(IllegalTransition):
        check_transition(current, target)


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
