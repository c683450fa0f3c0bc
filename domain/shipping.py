"""The shipping service: a shipment consumes reservations and stock, and moves the order."""

from __future__ import annotations

import dataclasses
from collections import defaultdict

from domain.commands import RecordShipment
from domain.errors import Conflict, NotFound
from domain.events import DomainEvent, ShipmentDispatched, ShippedLineOut
from domain.finance import FinancialDocument, Payment
from domain.invoicing import invoice_for, invoice_out
from domain.money import Money
from domain.money_check import ensure_consistent
from domain.orders import Order
from domain.payments import apply_prepaid, payment_event
from domain.ports import UnitOfWork
from domain.projection import order_event
from domain.shipments import Shipment, ShippedLine


def record_shipment(uow: UnitOfWork, cmd: RecordShipment) -> tuple[Shipment, bool]:
    """Record what left a location; (shipment, created).

    The same tracking number again for the same order is a repeat (systems retry): with
    the same location and lines it returns the recorded shipment; anything else is a
    Conflict, since a second parcel silently dropped would never be invoiced.
    """
    with uow:
        peek = uow.orders.get(cmd.order_id)
        if peek is None:
            raise NotFound(f"no order {cmd.order_id}")
        # Stock first, then the order: the lock order of every other writer.
        stock = uow.inventory.lock(sorted({line.sku for line in cmd.lines}))
        order = uow.orders.get(cmd.order_id, lock=True)
        assert order is not None
        if order.on_hold:  # the WMS was sent nothing for it: a parcel cannot have left
            raise Conflict(f"order {order.id} is on hold: release it before it ships")
        shipment = Shipment(
            order.id,
            cmd.location,
            cmd.carrier,
            cmd.tracking_number,
            [ShippedLine(line.sku, line.quantity) for line in cmd.lines],
        )
        existing = uow.shipments.find(order.id, cmd.carrier, cmd.tracking_number)
        if existing is not None:
            _check_repeat(existing, shipment)
            return existing, False
        previous = order.status
        shipped = _consume(order, shipment)
        levels = {(lv.sku, lv.location): lv for s in stock.values() for lv in s.levels}
        changed = []
        for sku, quantity in _by_sku(shipment.lines).items():
            lv = levels[(sku, cmd.location)]
            changed.append(
                dataclasses.replace(
                    lv, on_hand=lv.on_hand - quantity, reserved=lv.reserved - quantity
                )
            )
        uow.inventory.save_levels(changed)  # ATP unchanged: on hand and reserved both fell
        order.move_to(order.allocation_status())
        order.bump()
        invoice, prepaid = _invoice(uow, order, shipment, shipped)
        uow.orders.save(order)
        uow.shipments.add(shipment)
        uow.finance.add_document(invoice)
        if prepaid is not None:
            uow.finance.add_payment(prepaid)
        uow.changes.record(
            order,
            "ship",
            previous,
            {"shipment_id": str(shipment.id), "location": shipment.location},
        )
        uow.emit(dispatched_event(order, shipment, shipped, invoice))
        if prepaid is not None:
            uow.emit(payment_event(order, prepaid))
        uow.commit()
    return shipment, True


def _by_sku(lines: list[ShippedLine]) -> dict[str, int]:
    totals: dict[str, int] = defaultdict(int)
    for line in lines:
        totals[line.sku] += line.quantity
    return dict(totals)


def _check_repeat(recorded: Shipment, sent: Shipment) -> None:
    """A repeat of a tracking number must describe the same parcel (lines by SKU: how the
    WMS splits them into entries does not matter)."""
    where = f"tracking number {sent.tracking_number!r} is already recorded for this order"
    if recorded.location != sent.location:
        raise Conflict(
            f"{where} from {recorded.location}, not {sent.location}",
            shipment_id=str(recorded.id),
        )
    before, now = _by_sku(recorded.lines), _by_sku(sent.lines)
    if before != now:
        differences = "; ".join(
            f"{sku}: {before.get(sku, 0)} recorded, {now.get(sku, 0)} sent"
            for sku in sorted(before.keys() | now.keys())
            if before.get(sku, 0) != now.get(sku, 0)
        )
        raise Conflict(f"{where} with other lines ({differences})", shipment_id=str(recorded.id))


def _consume(order: Order, shipment: Shipment) -> dict[int, int]:
    """Take the shipped quantities from the order's reservations at that location (oldest
    first) and return them per order line: the WMS names only SKUs, and a SKU on two lines
    ships as the line whose reservation it consumed. Beyond what is reserved there is a
    conflict."""
    shipped: dict[int, int] = defaultdict(int)
    for sku, quantity in _by_sku(shipment.lines).items():
        held = [r for r in order.reservations if r.sku == sku and r.location == shipment.location]
        available = sum(r.quantity for r in held)
        if not held and all(line.sku != sku for line in order.lines):
            raise Conflict(f"order {order.id} has no line for {sku}")
        if quantity > available:
            raise Conflict(
                f"cannot ship {quantity} of {sku} from {shipment.location}: "
                f"{available} reserved there for this order"
            )
        remaining = quantity
        for reservation in sorted(held, key=lambda r: (r.created_at, str(r.id))):
            take = min(reservation.quantity, remaining)
            order.line(reservation.line_no).shipped += take
            shipped[reservation.line_no] += take
            order.release(reservation, take)
            remaining -= take
            if remaining == 0:
                break
    return dict(shipped)


def _invoice(
    uow: UnitOfWork, order: Order, shipment: Shipment, shipped: dict[int, int]
) -> tuple[FinancialDocument, Payment | None]:
    """The shipment's invoice, and for an order paid up front its funds applied to it; the
    order's figures moved, the money invariant checked."""
    invoice = invoice_for(order, shipped, shipment.id)
    order.invoiced_minor += invoice.total
    prepaid = apply_prepaid(order, invoice)
    payments = uow.finance.payments(order.id) + ([prepaid] if prepaid else [])
    ensure_consistent(order, [*uow.finance.documents(order.id), invoice], payments)
    return invoice, prepaid


def dispatched_event(
    order: Order, shipment: Shipment, shipped: dict[int, int], invoice: FinancialDocument
) -> DomainEvent:
    """shipment.dispatched for the lines `shipped` (line_no → quantity), with its invoice."""
    lines = [
        ShippedLineOut(line_no=line_no, sku=order.line(line_no).sku, quantity=quantity)
        for line_no, quantity in sorted(shipped.items())
    ]
    return order_event(
        ShipmentDispatched,
        order,
        shipment_id=str(shipment.id),
        location=shipment.location,
        carrier=shipment.carrier,
        tracking_number=shipment.tracking_number,
        lines=lines,
        # The lines' value: the invoice less its shipping (so the two always agree).
        shipped_value=str(
            Money(invoice.total - invoice.shipping - invoice.shipping_tax, order.currency)
        ),
        invoice=invoice_out(order, invoice),
    )
