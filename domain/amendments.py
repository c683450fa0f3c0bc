"""Customer service's changes before shipment: edits and cancellations.

Both take units off a line from its end (the last units, domain/money_split): first what
is backordered, then what is reserved, the newest reservations first; the stock those
held is given back, and goes on to the orders waiting for it (the backorder fill, oldest
first, in the same transaction). Shipped units are past changing: a return takes them.

Lock order, as every stock writer's: the stock rows of the order's SKUs (sorted), then
the order row (domain/order_change.locked_order). A shipment of the same line locks the
same SKU rows first, so an edit or a cancellation and a shipment serialize on the
database and the second sees the first's result: the shipment finds its reservation
gone (a Conflict, domain/shipping.py), or the edit finds the units shipped (a Conflict
here). Two cancellations of one line likewise: the second finds fewer units left.
"""

from __future__ import annotations

import uuid

from domain.change_commands import CancelOrder, EditOrder
from domain.errors import Conflict, ValidationFailed
from domain.events import DomainEvent, OrderAmended, OrderCancelled
from domain.line_money import amount_line, live_line, live_totals
from domain.order_change import Change, line_of, locked_order, take_units
from domain.orders import Order, OrderLine
from domain.ports import UnitOfWork
from domain.projection import order_event
from domain.status import OrderStatus

# Nothing of these can be changed any more (a partly shipped order's rest still can).
CLOSED = frozenset({OrderStatus.CANCELLED, OrderStatus.FULFILLED, OrderStatus.DELIVERED})


def edit_order(
    uow: UnitOfWork, order_id: uuid.UUID, cmd: EditOrder, *, channel: str | None = None
) -> Order:
    """Change the shipping address and lower line quantities (0 removes a line) of an order
    not yet shipped in full; `channel`: the caller may change only that channel's orders.

    The same edit again changes nothing and writes nothing (a retry gets the order)."""
    with uow:
        order, stock = locked_order(uow, order_id, channel)
        if order.status in CLOSED:
            raise Conflict(f"order {order.id} is {order.status.value}: it cannot be edited")
        takes = {}
        for i, asked in enumerate(cmd.lines or ()):
            line = line_of(order, asked.line_no, f"lines.{i}.line_no")
            if asked.quantity > line.live:
                message = f"line {line.line_no}: {asked.quantity} is more than its {line.live}"
                raise ValidationFailed(
                    message,
                    errors=[{"field": f"lines.{i}.quantity", "message": "only lower is allowed"}],
                )
            if asked.quantity < line.shipped:
                raise Conflict(
                    f"line {line.line_no}: {line.shipped} already shipped; use a return",
                    line_no=line.line_no,
                )
            if asked.quantity < line.live:
                takes[line.line_no] = line.live - asked.quantity
        if takes and not any(line.live - takes.get(line.line_no, 0) for line in order.lines):
            raise Conflict(f"the edit would leave nothing of order {order.id}: cancel it instead")
        address = cmd.shipping_address.model_dump() if cmd.shipping_address else None
        moved = address is not None and address != order.shipping_address
        if not takes and not moved:
            return order  # already as asked: nothing to write
        change = Change(order)
        released = take_units(order, takes)
        if address is not None:
            order.shipping_address = address
        order.totals = live_totals(order).as_dict()

        def amended(order: Order) -> DomainEvent:
            lines = [live_line(line) for line in order.lines]
            return order_event(OrderAmended, order, lines=lines, reason=cmd.reason)

        detail = cmd.model_dump(mode="json", exclude_none=True)
        change.commit(uow, stock, released, "edit", detail, amended, moved=moved)
    return order


def cancel_order(
    uow: UnitOfWork, order_id: uuid.UUID, cmd: CancelOrder, *, channel: str | None = None
) -> Order:
    """Cancel units not yet shipped: the lines given (their last units), or every unit
    left. Nothing shipped and nothing left: the order is cancelled; shipped in part and
    the rest cancelled: fulfilled."""
    with uow:
        order, stock = locked_order(uow, order_id, channel)
        if cmd.lines is None:
            takes = {line.line_no: line.unshipped for line in order.lines if line.unshipped}
            if not takes:
                raise Conflict(f"order {order.id} is {order.status.value}: nothing left to cancel")
        else:
            takes = {}
            for i, asked in enumerate(cmd.lines):
                line = line_of(order, asked.line_no, f"lines.{i}.line_no")
                if asked.quantity > line.unshipped:
                    raise Conflict(_too_many(line, asked.quantity), line_no=line.line_no)
                takes[line.line_no] = asked.quantity
        change = Change(order)
        cancelled = [
            amount_line(order.line(n), order.line(n).live - q, q) for n, q in sorted(takes.items())
        ]
        released = take_units(order, takes)
        whole = not any(line.live for line in order.lines)
        if not whole:  # what is left is what the order is worth now
            order.totals = live_totals(order).as_dict()
        detail = cmd.model_dump(mode="json", exclude_none=True)
        change.commit(
            uow,
            stock,
            released,
            "cancel",
            detail,
            lambda order: order_event(
                OrderCancelled, order, whole=whole, reason=cmd.reason, lines=cancelled
            ),
        )
    return order


def _too_many(line: OrderLine, asked: int) -> str:
    left = f"line {line.line_no}: {line.unshipped} left to cancel, not {asked}"
    return f"{left}; {line.shipped} already shipped, use a return" if line.shipped else left
