"""Amounts of money commands, read in the order's currency."""

from __future__ import annotations

from decimal import Decimal

from domain.errors import ValidationFailed
from domain.money import Money
from domain.orders import Order


def currency_of(order: Order, amount: Decimal, currency: str | None) -> int:
    """`amount` in minor units of the order's currency (a `currency` sent must be it); a
    zero amount or one with too many decimals is refused."""
    if currency is not None and currency != order.currency:
        message = f"the order is in {order.currency}, not {currency}"
        raise ValidationFailed(message, errors=[{"field": "currency", "message": message}])
    minor = Money.parse(amount, order.currency).minor
    if minor <= 0:
        message = "must be more than zero"
        raise ValidationFailed(
            f"amount {message}", errors=[{"field": "amount", "message": message}]
        )
    return minor
