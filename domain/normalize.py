"""From a channel's canonical document (PlaceOrder) to an Order: exact money, checked totals."""

from __future__ import annotations

import uuid
from datetime import UTC
from decimal import Decimal
from typing import Any

from domain.commands import PlaceOrder
from domain.currency import EXPONENTS
from domain.errors import InvalidMoney, ValidationFailed
from domain.money import Money
from domain.orders import Order, OrderLine, fingerprint
from domain.status import OrderStatus
from domain.totals import check, compute, discount_errors


class _MoneyReader:
    """Parses amounts and collects every bad one, so one 422 can list them all."""

    def __init__(self, currency: str) -> None:
        self.currency = currency
        self.errors: list[dict[str, str]] = []

    def __call__(self, field: str, value: Decimal | None) -> Money:
        if value is None:
            return Money.zero(self.currency)
        try:
            return Money.parse(value, self.currency)
        except InvalidMoney as error:
            self.errors.append({"field": field, "message": error.detail})
            return Money.zero(self.currency)


def _address(address: Any) -> dict[str, Any] | None:
    return None if address is None else address.model_dump()


def build_order(cmd: PlaceOrder, *, channel: str, idempotency_key: str | None = None) -> Order:
    """Normalize and check a PlaceOrder; raises ValidationFailed / TotalsMismatch."""
    if cmd.currency not in EXPONENTS:
        message = f"unsupported currency {cmd.currency}"
        raise ValidationFailed(message, errors=[{"field": "currency", "message": message}])
    money = _MoneyReader(cmd.currency)
    lines = [
        OrderLine(
            line_no=i + 1,
            sku=line.sku,
            quantity=line.quantity,
            unit_price=money(f"lines.{i}.unit_price", line.unit_price),
            discount=money(f"lines.{i}.discount", line.discount),
            tax=money(f"lines.{i}.tax", line.tax),
        )
        for i, line in enumerate(cmd.lines)
    ]
    ship = cmd.shipping
    ship_amount = money("shipping.amount", ship.amount if ship else None)
    ship_tax = money("shipping.tax", ship.tax if ship else None)
    pay_amount = money("payment.amount", cmd.payment.amount if cmd.payment else None)
    sent = {
        name: (money(f"totals.{name}", value) if value is not None else None)
        for name, value in cmd.totals.model_dump().items()
    }
    if money.errors:
        raise ValidationFailed("amounts are not valid for the currency", errors=money.errors)

    discounts = discount_errors((ln.unit_price, ln.quantity, ln.discount) for ln in lines)
    if discounts:
        raise ValidationFailed("a line's discount exceeds its price", errors=discounts)

    totals = compute(
        ((ln.unit_price, ln.quantity, ln.discount, ln.tax) for ln in lines), ship_amount, ship_tax
    )
    check(totals, sent, pay_amount if cmd.payment else None)

    customer = cmd.customer.model_dump()
    customer["email"] = customer["email"].lower()
    shipping = (
        {"method": ship.method, "amount": str(ship_amount), "tax": str(ship_tax)} if ship else None
    )
    payment = (
        {"method": cmd.payment.method, "status": cmd.payment.status, "amount": str(pay_amount)}
        if cmd.payment
        else None
    )
    placed_at = cmd.placed_at.astimezone(UTC)
    shipping_address = cmd.shipping_address.model_dump()
    billing_address = _address(cmd.billing_address)
    content: dict[str, Any] = {
        "external_id": cmd.external_id,
        "placed_at": placed_at.isoformat(),
        "currency": cmd.currency,
        "customer": customer,
        "shipping_address": shipping_address,
        "billing_address": billing_address,
        "lines": [
            [ln.sku, ln.quantity, ln.unit_price.minor, ln.discount.minor, ln.tax.minor]
            for ln in lines
        ],
        "shipping": shipping,
        "payment": payment,
        "grand_total": totals.grand_total.minor,
    }
    b2b = None if cmd.b2b is None else cmd.b2b.model_dump(mode="json")
    if b2b is not None:  # only then: the fingerprints of orders without terms stay as they were
        content["b2b"] = b2b
    return Order(
        id=uuid.uuid4(),
        channel=channel,
        external_id=cmd.external_id,
        status=OrderStatus.PLACED,
        version=1,
        currency=cmd.currency,
        placed_at=placed_at,
        customer=customer,
        shipping_address=shipping_address,
        billing_address=billing_address,
        shipping=shipping,
        payment=payment,
        totals=totals.as_dict(),
        lines=lines,
        fingerprint=fingerprint(content),
        idempotency_key=idempotency_key,
        b2b=b2b,
    )
