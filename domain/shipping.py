"""The shipping service: a shipment consumes reservations and stock, and moves the order."""

from __future__ import annotations

import dataclasses
from collections import defaultdict

from domain.commands import RecordShipment
from domain.errors import Conflict, NotFound
from domain.events import DomainEvent, ShipmentDispatched, ShippedLineOut
from domain.money import Money
from domain.orders import Order
from domain.ports import UnitOfWork
from domain.shipments import Shipment, ShippedLine
from domain.status import OrderStatus


def record_shipment(uow: UnitOfWork, cmd: RecordShipment) -> tuple[Shipment, bool]:
    """Record what left a location; (shipment, created). The same tracking number again for
    the same order returns the recorded shipment (systems retry)."""
    with uow:
        peek = uow.orders.get(cmd.order_id)
        if peek is None:
            raise NotFound(f"no order {cmd.order_id}")
        # Stock first, then the order: the lock order of every other writer.
        stock = uow.inventory.lock(sorted({line.sku for line in cmd.lines}))
        order = uow.orders.get(cmd.order_id, lock=True)
        assert order is not None
        existing = uow.shipments.find(order.id, cmd.carrier, cmd.tracking_number)
        if existing is not None:
            return existing, False
        shipment = Shipment(
            order.id,
            cmd.location,
            cmd.carrier,
            cmd.tracking_number,
            [ShippedLine(line.sku, line.quantity) for line in cmd.lines],
        )
        shipped = _consume(order, shipment)
        levels = {(lv.sku, lv.location): lv for s in stock.values() for lv in s.levels}
        changed = []
        for sku, quantity in shipped.items():
            lv = levels[(sku, cmd.location)]
            changed.append(
                dataclasses.replace(
                    lv, on_hand=lv.on_hand - quantity, reserved=lv.reserved - quantity
                )
            )
        uow.inventory.save_levels(changed)  # ATP unchanged: on hand and reserved both fell
        fulfilled = all(line.shipped == line.quantity for line in order.lines)
        order.move_to(OrderStatus.FULFILLED if fulfilled else OrderStatus.PARTIALLY_FULFILLED)
        order.bump()
        uow.orders.save(order)
        uow.shipments.add(shipment)
        uow.emit(_dispatched(order, shipment, shipped))
        uow.commit()
    return shipment, True


def _consume(order: Order, shipment: Shipment) -> dict[str, int]:
    """Take the shipped quantities from the order's reservations at that location (oldest
    first); a quantity beyond what is reserved there is a conflict."""
    wanted: dict[str, int] = defaultdict(int)
    for shipped_line in shipment.lines:
        wanted[shipped_line.sku] += shipped_line.quantity
    for sku, quantity in wanted.items():
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
            order_line = order.line(reservation.line_no)
            order.release(reservation, take)
            order_line.shipped += take
            remaining -= take
            if remaining == 0:
                break
    return dict(wanted)


def _dispatched(order: Order, shipment: Shipment, shipped: dict[str, int]) -> DomainEvent:
    value = Money.zero(order.currency)
    lines = []
    left = dict(shipped)
    for line in order.lines:
        quantity = min(left.get(line.sku, 0), line.quantity)
        if quantity:
            # The line's value pro rata: the invoice needs what left, not what was ordered.
            value += Money(line.total.minor * quantity // line.quantity, order.currency)
            lines.append(ShippedLineOut(line_no=line.line_no, sku=line.sku, quantity=quantity))
            left[line.sku] -= quantity
    payload = ShipmentDispatched(
        order_id=str(order.id),
        channel=order.channel,
        external_id=order.external_id,
        status=order.status.value,
        shipment_id=str(shipment.id),
        location=shipment.location,
        carrier=shipment.carrier,
        tracking_number=shipment.tracking_number,
        lines=lines,
        currency=order.currency,
        shipped_value=str(value),
    )
    return DomainEvent(payload, order.version, order.channel)
