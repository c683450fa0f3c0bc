"""Releasing a held order: the WMS hears of it only now."""

from __future__ import annotations

import uuid

from domain.commands import ReleaseOrder
from domain.errors import Conflict, NotFound
from domain.events import OrderReleased
from domain.orders import Order
from domain.ports import UnitOfWork
from domain.projection import order_event
from domain.services import allocation_events
from domain.status import OrderStatus


def release_order(
    uow: UnitOfWork, order_id: uuid.UUID, cmd: ReleaseOrder, *, released_by: str
) -> Order:
    """Clear a held order's holds: it moves to what its reservations call for, and
    order.released then its allocation events go out. Conflict unless it is on hold.

    Only the order row is locked: a release changes no stock, and the writers that change
    its reservations (a stock shrink, a cancellation) lock it too, so whichever commits
    second sees the other's result — a shrink before the release is in the allocation
    the release sends; one after it sees an order no longer held and tells the WMS."""
    with uow:
        order = uow.orders.get(order_id, lock=True)
        if order is None:
            raise NotFound(f"no order {order_id}")
        if order.status is not OrderStatus.ON_HOLD:
            raise Conflict(f"order {order_id} is not on hold (it is {order.status.value})")
        previous, holds = order.status, order.holds
        order.holds = []
        order.move_to(order.allocation_status())
        order.bump()
        uow.orders.save(order)
        uow.changes.record(order, "release", previous, {"reason": cmd.reason, "holds": holds})
        released = order_event(OrderReleased, order, released_by=released_by, reason=cmd.reason)
        uow.emit(released, *allocation_events(order))
        uow.commit()
    return order
