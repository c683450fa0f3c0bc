"""How one edit or cancellation of an order is carried out: the order locked after its
stock rows, units taken off its lines' ends, and the change committed — status, version,
stock given back (and given on to the backorders waiting for it, domain/backorder_fill.py),
change-log entry and events in one transaction (domain/amendments.py says what each change
asks for)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from domain.backorder_fill import fill_backorders
from domain.errors import ValidationFailed
from domain.events import DomainEvent, OrderAllocated
from domain.orders import Order, OrderLine
from domain.ownership import own_order
from domain.ports import SkuStock, UnitOfWork
from domain.projection import order_event
from domain.services import backorder_event, reserve_levels, save_reallocated, stock_events
from domain.status import OrderStatus


def locked_order(
    uow: UnitOfWork, order_id: uuid.UUID, channel: str | None
) -> tuple[Order, dict[str, SkuStock]]:
    """The order locked, after its SKUs' stock rows (the lock order of every stock
    writer); another channel's order than `channel`'s is Forbidden (domain/ownership)."""
    peek = own_order(uow.orders.get(order_id), order_id, channel)
    # A line's SKU never changes, so the unlocked read names the rows to lock.
    stock = uow.inventory.lock(sorted({line.sku for line in peek.lines}))
    order = uow.orders.get(order_id, lock=True)
    assert order is not None  # orders are never deleted
    return order, stock


def line_of(order: Order, line_no: int, where: str) -> OrderLine:
    """The order's line `line_no` (ValidationFailed naming the field `where` if none)."""
    for line in order.lines:
        if line.line_no == line_no:
            return line
    message = f"the order has no line {line_no}"
    raise ValidationFailed(message, errors=[{"field": where, "message": message}])


def take_units(order: Order, takes: dict[int, int]) -> list[tuple[str, str, int]]:
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
class Change:
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
        levels = {(lv.sku, lv.location): lv for s in stock.values() for lv in s.levels}
        original = dict(levels)
        for lv in reserve_levels(list(levels.values()), released):
            levels[(lv.sku, lv.location)] = lv
        if released:
            # The stock given back goes to the orders waiting for it, oldest first (as a
            # stock arrival's does). The order's cut lines are written first, so the fill
            # reads the backorder queue as it now is.
            uow.orders.save(order)
            fill = fill_backorders(
                uow, levels, {sku for sku, _, _ in released}, {order.id: order}
            ).filled
        else:
            fill = []
        order.move_to(order.allocation_status())
        order.bump()
        uow.orders.save(order)
        changed = [lv for key, lv in levels.items() if lv != original[key]]
        uow.inventory.save_levels(changed)
        cause = {"cause": f"{command} of order {order.id}"}
        for other, before in fill:
            if other.id != order.id:
                save_reallocated(uow, other, before, "fill", cause)
        uow.changes.record(order, command, self.previous, detail)
        uow.emit(event(order), *self._fulfilment_events(moved))
        uow.emit(*stock_events(uow, stock, changed, order.channel))
        uow.commit()

    def _fulfilment_events(self, moved: bool) -> list[DomainEvent]:
        """What the WMS must hear: the reservations as they now are when they (or where
        they go) changed, so it amends or cancels its open fulfillment orders; the
        backorder when it changed. A held order's WMS was told nothing yet, and one the
        channel fulfils is never the WMS's."""
        order = self.order
        if self.previous is OrderStatus.ON_HOLD or order.fulfilled_by_channel:
            return []
        events = []
        allocated = moved or self._reserved() != self.reservations
        if allocated:
            events.append(order_event(OrderAllocated, order))
        # An allocation with no reservations left makes the WMS drop the order's backorder
        # notice with its fulfillment orders: what is still short is sent again after it.
        if allocated or [line.backordered for line in order.lines] != self.backordered:
            backordered = backorder_event(order)
            if backordered is not None:
                events.append(backordered)
        return events
