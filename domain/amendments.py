"""Customer service's changes before shipment: edits and cancellations.

Both take units off a line from its end (the last units, domain/money_split): first what
is backordered, then what is reserved, the newest reservations first; the stock those
held is given back (ATP rises). Shipped units are past changing: a return takes them.

Lock order, as every stock writer's: the stock rows of the order's SKUs (sorted), then
the order row. A shipment of the same line locks the same SKU rows first, so an edit or
a cancellation and a shipment serialize on the database and the second sees the first's
result: the shipment finds its reservation gone (a Conflict, domain/shipping.py), or the
edit finds the units shipped (a Conflict here). Two cancellations of one line likewise:
the second finds fewer units left.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from domain.allocation import StockLevel
from domain.change_commands import CancelOrder, EditOrder
from domain.errors import Conflict, NotFound, ValidationFailed
from domain.events import DomainEvent, OrderAllocated, OrderAmended, OrderCancelled
from domain.line_money import amount_line, live_line, live_totals
from domain.orders import Order, OrderLine
from domain.ports import SkuStock, UnitOfWork
from domain.projection import order_event
from domain.services import backorder_event, reserve_levels, stock_events
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
        order, stock = _locked(uow, order_id, channel)
        if order.status in CLOSED:
            raise Conflict(f"order {order.id} is {order.status.value}: it cannot be edited")
        takes = {}
        for i, asked in enumerate(cmd.lines or ()):
            line = _line(order, asked.line_no, f"lines.{i}.line_no")
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
        change = _Change(order)
        released = _take(order, takes)
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
        order, stock = _locked(uow, order_id, channel)
        if cmd.lines is None:
            takes = {line.line_no: line.unshipped for line in order.lines if line.unshipped}
            if not takes:
                raise Conflict(f"order {order.id} is {order.status.value}: nothing left to cancel")
        else:
            takes = {}
            for i, asked in enumerate(cmd.lines):
                line = _line(order, asked.line_no, f"lines.{i}.line_no")
                if asked.quantity > line.unshipped:
                    raise Conflict(_too_many(line, asked.quantity), line_no=line.line_no)
                takes[line.line_no] = asked.quantity
        change = _Change(order)
        cancelled = [
            amount_line(order.line(n), order.line(n).live - q, q) for n, q in sorted(takes.items())
        ]
        released = _take(order, takes)
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


def _locked(
    uow: UnitOfWork, order_id: uuid.UUID, channel: str | None
) -> tuple[Order, dict[str, SkuStock]]:
    """The order locked, after its SKUs' stock rows (the lock order of every stock
    writer); an order of another channel than `channel` is not found."""
    peek = uow.orders.get(order_id)
    if peek is None or (channel is not None and peek.channel != channel):
        raise NotFound(f"no order {order_id}")
    # A line's SKU never changes, so the unlocked read names the rows to lock.
    stock = uow.inventory.lock(sorted({line.sku for line in peek.lines}))
    order = uow.orders.get(order_id, lock=True)
    assert order is not None  # orders are never deleted
    return order, stock


def _line(order: Order, line_no: int, where: str) -> OrderLine:
    for line in order.lines:
        if line.line_no == line_no:
            return line
    message = f"the order has no line {line_no}"
    raise ValidationFailed(message, errors=[{"field": where, "message": message}])


def _take(order: Order, takes: dict[int, int]) -> list[tuple[str, str, int]]:
    """Cancel `takes` (line_no → units) from the lines' ends: backordered units first,
    then reserved ones, the newest reservations first. Returns the stock released, as
    (sku, location, -quantity) for reserve_levels."""
    released = []
    for line_no, count in sorted(takes.items()):
        line = order.line(line_no)
        left = count - min(line.backordered, count)
        held = [r for r in order.reservations if r.line_no == line_no]
        for reservation in sorted(held, key=lambda r: (r.created_at, str(r.id)), reverse=True):
            if left == 0:
                break
            quantity = min(reservation.quantity, left)
            order.release(reservation, quantity)
            released.append((reservation.sku, reservation.location, -quantity))
            left -= quantity
        line.cancelled += count
    return released


@dataclass
class _Change:
    """One edit or cancellation of a locked order: what it was before, and how it ends —
    the status the lines call for, one version step, the stock given back, the change
    log entry and the events, in one transaction."""

    order: Order
    previous: OrderStatus = field(init=False)
    reservations: list[tuple[uuid.UUID, int]] = field(init=False)
    backordered: list[int] = field(init=False)

    def __post_init__(self) -> None:
        self.previous = self.order.status
        self.reservations = self._reserved()
        self.backordered = [line.backordered for line in self.order.lines]

    def _reserved(self) -> list[tuple[uuid.UUID, int]]:
        return sorted((r.id, r.quantity) for r in self.order.reservations)

    def commit(
        self,
        uow: UnitOfWork,
        stock: dict[str, SkuStock],
        released: list[tuple[str, str, int]],
        command: str,
        detail: dict[str, Any],
        event: Callable[[Order], DomainEvent],
        *,
        moved: bool = False,
    ) -> None:
        """`event`: the change's own event, of the order at its new version; `moved`: the
        shipping address changed."""
        order = self.order
        order.move_to(order.allocation_status())
        order.bump()
        levels: list[StockLevel] = [lv for s in stock.values() for lv in s.levels]
        changed = reserve_levels(levels, released)
        uow.inventory.save_levels(changed)
        uow.orders.save(order)
        uow.changes.record(order, command, self.previous, detail)
        uow.emit(event(order), *self._fulfilment_events(moved))
        uow.emit(*stock_events(uow, stock, changed, order.channel))
        uow.commit()

    def _fulfilment_events(self, moved: bool) -> list[DomainEvent]:
        """What the WMS must hear: the reservations as they now are when they (or where
        they go) changed, so it amends or cancels its open fulfillment orders; the
        backorder when it changed. A held order's WMS was told nothing yet."""
        order = self.order
        if self.previous is OrderStatus.ON_HOLD:
            return []
        events = []
        if moved or self._reserved() != self.reservations:
            events.append(order_event(OrderAllocated, order))
        if [line.backordered for line in order.lines] != self.backordered:
            backordered = backorder_event(order)
            if backordered is not None:
                events.append(backordered)
        return events
