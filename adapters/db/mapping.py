"""Rows ↔ domain objects."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from domain.money import Money
from domain.orders import Order, OrderLine, Reservation
from domain.status import OrderStatus


def order_row(order: Order, now: datetime) -> dict[str, Any]:
    return {
        "id": order.id,
        "channel": order.channel,
        "external_id": order.external_id,
        "idempotency_key": order.idempotency_key,
        "fingerprint": order.fingerprint,
        "status": order.status.value,
        "version": order.version,
        "currency": order.currency,
        "placed_at": order.placed_at,
        "customer": order.customer,
        "shipping_address": order.shipping_address,
        "billing_address": order.billing_address,
        "shipping": order.shipping,
        "payment": order.payment,
        "totals": order.totals,
        "created_at": order.created_at or now,
        "updated_at": now,
    }


def line_rows(order: Order) -> list[dict[str, Any]]:
    return [
        {
            "order_id": order.id,
            "line_no": ln.line_no,
            "sku": ln.sku,
            "quantity": ln.quantity,
            "unit_price_minor": ln.unit_price.minor,
            "discount_minor": ln.discount.minor,
            "tax_minor": ln.tax.minor,
            "allocated": ln.allocated,
            "shipped": ln.shipped,
        }
        for ln in order.lines
    ]


def reservation_rows(reservations: Iterable[Reservation]) -> list[dict[str, Any]]:
    return [
        {
            "id": r.id,
            "order_id": r.order_id,
            "line_no": r.line_no,
            "sku": r.sku,
            "location": r.location,
            "quantity": r.quantity,
            "created_at": r.created_at,
        }
        for r in reservations
    ]


def reservation(row: Any) -> Reservation:
    return Reservation(
        order_id=row.order_id,
        line_no=row.line_no,
        sku=row.sku,
        location=row.location,
        quantity=row.quantity,
        id=row.id,
        created_at=row.created_at,
    )


def order(row: Any, lines: Iterable[Any], reservations: Iterable[Any]) -> Order:
    currency = row.currency
    return Order(
        id=row.id,
        channel=row.channel,
        external_id=row.external_id,
        status=OrderStatus(row.status),
        version=row.version,
        currency=currency,
        placed_at=row.placed_at,
        customer=row.customer,
        shipping_address=row.shipping_address,
        billing_address=row.billing_address,
        shipping=row.shipping,
        payment=row.payment,
        totals=row.totals,
        lines=[
            OrderLine(
                line_no=ln.line_no,
                sku=ln.sku,
                quantity=ln.quantity,
                unit_price=Money(ln.unit_price_minor, currency),
                discount=Money(ln.discount_minor, currency),
                tax=Money(ln.tax_minor, currency),
                allocated=ln.allocated,
                shipped=ln.shipped,
            )
            for ln in sorted(lines, key=lambda ln: ln.line_no)
        ],
        fingerprint=row.fingerprint,
        idempotency_key=row.idempotency_key,
        reservations=[reservation(r) for r in reservations],
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
