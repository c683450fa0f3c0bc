"""The order state machine: an explicit transition table."""

from __future__ import annotations

from enum import StrEnum

from domain.errors import IllegalTransition


class OrderStatus(StrEnum):
    PLACED = "placed"
    ON_HOLD = "on_hold"  # screened at acceptance: stock reserved, the WMS told nothing
    ALLOCATED = "allocated"
    PARTIALLY_ALLOCATED = "partially_allocated"
    BACKORDERED = "backordered"
    PARTIALLY_FULFILLED = "partially_fulfilled"
    FULFILLED = "fulfilled"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


S = OrderStatus

# Returns and refunds do not move an order's status (they have their own); a cancellation
# of part of an order leaves it where its remaining lines put it.
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.PLACED: frozenset(
        {S.ON_HOLD, S.ALLOCATED, S.PARTIALLY_ALLOCATED, S.BACKORDERED, S.FULFILLED, S.CANCELLED}
    ),
    # Released: to what its reservations call for; or cancelled while held.
    S.ON_HOLD: frozenset({S.ALLOCATED, S.PARTIALLY_ALLOCATED, S.BACKORDERED, S.CANCELLED}),
    # Allocation moves between these three as stock arrives or shrinks.
    S.ALLOCATED: frozenset(
        {S.PARTIALLY_ALLOCATED, S.BACKORDERED, S.PARTIALLY_FULFILLED, S.FULFILLED, S.CANCELLED}
    ),
    S.PARTIALLY_ALLOCATED: frozenset(
        {S.ALLOCATED, S.BACKORDERED, S.PARTIALLY_FULFILLED, S.FULFILLED, S.CANCELLED}
    ),
    S.BACKORDERED: frozenset({S.ALLOCATED, S.PARTIALLY_ALLOCATED, S.CANCELLED}),
    # Fulfilled also when the rest of a part-shipped order is cancelled.
    S.PARTIALLY_FULFILLED: frozenset({S.FULFILLED, S.DELIVERED}),
    S.FULFILLED: frozenset({S.DELIVERED}),
    S.DELIVERED: frozenset(),
    S.CANCELLED: frozenset(),
}


def can_transition(current: OrderStatus, target: OrderStatus) -> bool:
    return target == current or target in TRANSITIONS[current]


def check_transition(current: OrderStatus, target: OrderStatus) -> None:
    """Raise IllegalTransition unless current → target is in the table (staying put is allowed)."""
    if not can_transition(current, target):
        raise IllegalTransition(
            f"an order cannot go from {current.value} to {target.value}",
            current=current.value,
            target=target.value,
        )
