"""The returns service: a return is opened for shipped units, and received by the WMS.

Opening counts the units on the order's lines (returned), so no unit is returned twice.
Receiving puts restocked units back on hand at the receiving location and gives them to
the SKUs' backordered lines (domain/backorder_fill.py); damaged units change no stock.
Lock order, as every stock writer: the SKUs' stock rows; then the returned order together
with the orders the units fill, in id order; then the return's row.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections import Counter
from datetime import UTC, datetime

from domain.backorder_fill import fill_backorders
from domain.commands import MAX_STOCK, OpenReturn, ReceiveReturn
from domain.errors import Conflict, NotFound, ValidationFailed
from domain.events import DomainEvent, ReturnLineOut, ReturnOpened, ReturnReceived
from domain.orders import Order
from domain.ownership import own_order
from domain.ports import UnitOfWork
from domain.projection import order_event
from domain.returns import RECEIVED, RESTOCK, ReceivedLine, Return, ReturnLine
from domain.services import allocation_events, save_reallocated, stock_events


def open_return(
    uow: UnitOfWork, order_id: uuid.UUID, cmd: OpenReturn, *, channel: str | None = None
) -> Return:
    """Open a return of shipped units; `channel`: the caller is that channel, and may only
    return its own orders (another's is Forbidden)."""
    wanted: Counter[int] = Counter()
    for line in cmd.lines:
        wanted[line.line_no] += line.quantity
    with uow:
        # No stock changes: the order row only.
        order = own_order(uow.orders.get(order_id, lock=True), order_id, channel)
        for i, line in enumerate(cmd.lines):
            if all(ln.line_no != line.line_no for ln in order.lines):
                raise ValidationFailed(
                    f"order {order.id} has no line {line.line_no}",
                    errors=[{"field": f"lines.{i}.line_no", "message": "no such line"}],
                )
        for line_no, quantity in sorted(wanted.items()):
            ln = order.line(line_no)
            if quantity > ln.shipped - ln.returned:
                raise Conflict(
                    f"line {line_no} ({ln.sku}): cannot return {quantity}, "
                    f"{ln.shipped} shipped and {ln.returned} already returned",
                    line_no=line_no,
                )
        ret = Return(
            order.id,
            cmd.reason,
            [ReturnLine(n, order.line(n).sku, q) for n, q in sorted(wanted.items())],
        )
        for returned in ret.lines:
            order.line(returned.line_no).returned += returned.quantity
        order.bump()
        uow.orders.save(order)
        uow.returns.add(ret)
        uow.changes.record(
            order,
            "return",
            order.status,
            {"return_id": str(ret.id), "reason": ret.reason, "lines": _lines_json(ret.lines)},
        )
        uow.emit(
            order_event(
                ReturnOpened,
                order,
                return_id=str(ret.id),
                reason=ret.reason,
                lines=[
                    ReturnLineOut(line_no=x.line_no, sku=x.sku, quantity=x.quantity)
                    for x in ret.lines
                ],
            )
        )
        uow.commit()
    return ret


def receive_return(
    uow: UnitOfWork, return_id: uuid.UUID, cmd: ReceiveReturn
) -> tuple[Return, bool]:
    """Record what the WMS received of a return; (return, received now).

    All or nothing. A repeat with the same content (systems retry) returns the return as
    received and writes nothing; other content for a received return is a Conflict.
    """
    with uow:
        peek = uow.returns.get(return_id)
        if peek is None:
            raise NotFound(f"no return {return_id}")
        received = _received(peek, cmd)  # a return's lines never change: checked once
        restocked = sorted({x.sku for x in received if x.disposition == RESTOCK})
        if restocked:
            uow.inventory.ensure([(sku, cmd.location) for sku in restocked])
        stock = uow.inventory.lock(restocked)
        levels = {(lv.sku, lv.location): lv for s in stock.values() for lv in s.levels}
        original = dict(levels)
        for sku, quantity in _restocked(received).items():
            lv = levels[(sku, cmd.location)]
            if lv.on_hand + quantity > MAX_STOCK:
                raise ValidationFailed(f"{sku} at {cmd.location} would go above {MAX_STOCK}")
            levels[(sku, cmd.location)] = dataclasses.replace(lv, on_hand=lv.on_hand + quantity)
        # The return's order is locked with the orders the units go to, in one id order.
        fill = fill_backorders(uow, levels, restocked, also=[peek.order_id])
        order = fill.locked[peek.order_id]
        ret = uow.returns.get(return_id, lock=True)
        assert ret is not None  # returns are never deleted
        if ret.status == RECEIVED:  # a retry, perhaps of one that committed meanwhile
            _check_repeat(ret, cmd.location, received)
            return ret, False  # the fill above is rolled back with the rest
        previous = order.status
        changed = [lv for key, lv in levels.items() if lv != original[key]]
        uow.inventory.save_levels(changed)
        ret.status, ret.location, ret.received = RECEIVED, cmd.location, received
        ret.received_at = datetime.now(UTC)
        uow.returns.save(ret)
        order.bump()
        uow.orders.save(order)
        uow.changes.record(
            order,
            "receive",
            previous,
            {"return_id": str(ret.id), "location": cmd.location, "lines": _lines_json(received)},
        )
        uow.emit(_received_event(order, ret))
        for filled, before in fill.filled:
            if filled.id == order.id:  # the returned order itself waited for these units
                uow.emit(*allocation_events(order, reallocated=True))
            else:
                save_reallocated(uow, filled, before, "fill", {"cause": f"return {ret.id}"})
        uow.emit(*stock_events(uow, stock, changed, None))
        uow.commit()
    return ret, True


def _received(ret: Return, cmd: ReceiveReturn) -> list[ReceivedLine]:
    """The receipt's lines, one per (line, disposition), checked against the return."""
    counted: Counter[tuple[int, str]] = Counter()
    for i, line in enumerate(cmd.lines):
        if ret.quantity(line.line_no) == 0:
            raise ValidationFailed(
                f"return {ret.id} has no line {line.line_no}",
                errors=[{"field": f"lines.{i}.line_no", "message": "not on the return"}],
            )
        counted[(line.line_no, line.disposition)] += line.quantity
    per_line: Counter[int] = Counter()
    for (line_no, _), quantity in counted.items():
        per_line[line_no] += quantity
    for line_no, quantity in sorted(per_line.items()):
        if quantity > ret.quantity(line_no):
            raise Conflict(
                f"line {line_no}: {quantity} received, the return has {ret.quantity(line_no)}",
                line_no=line_no,
            )
    sku = {line.line_no: line.sku for line in ret.lines}
    return [
        ReceivedLine(line_no, sku[line_no], quantity, disposition)
        for (line_no, disposition), quantity in sorted(counted.items())
    ]


def _restocked(received: list[ReceivedLine]) -> Counter[str]:
    units: Counter[str] = Counter()
    for line in received:
        if line.disposition == RESTOCK:
            units[line.sku] += line.quantity
    return units


def _check_repeat(ret: Return, location: str, received: list[ReceivedLine]) -> None:
    if ret.location != location or sorted(ret.received or []) != sorted(received):
        raise Conflict(
            f"return {ret.id} was already received at {ret.location} with other content",
            return_id=str(ret.id),
        )


def _lines_json(lines: list[ReturnLine] | list[ReceivedLine]) -> list[dict[str, object]]:
    return [dataclasses.asdict(line) for line in lines]


def _received_event(order: Order, ret: Return) -> DomainEvent:
    return order_event(
        ReturnReceived,
        order,
        return_id=str(ret.id),
        location=ret.location,
        lines=[
            ReturnLineOut(
                line_no=x.line_no, sku=x.sku, quantity=x.quantity, disposition=x.disposition
            )
            for x in ret.received or []
        ],
    )
