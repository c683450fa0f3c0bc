"""Order totals computed from the lines, and the check against what the channel sent."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from domain.errors import TotalsMismatch
from domain.money import Money


@dataclass(frozen=True, slots=True)
class Totals:
    subtotal: Money  # unit price × quantity, before discount and tax
    discount_total: Money
    tax_total: Money  # line tax + shipping tax
    shipping_total: Money  # shipping amount, excluding its tax
    grand_total: Money

    def as_dict(self) -> dict[str, str]:
        return {
            "subtotal": str(self.subtotal),
            "discount_total": str(self.discount_total),
            "tax_total": str(self.tax_total),
            "shipping_total": str(self.shipping_total),
            "grand_total": str(self.grand_total),
        }


def compute(
    lines: Iterable[tuple[Money, int, Money, Money]],
    shipping_amount: Money,
    shipping_tax: Money,
) -> Totals:
    """Totals from (unit_price, quantity, discount, tax) lines; discount and tax are per line."""
    zero = Money.zero(shipping_amount.currency)
    subtotal = discount = tax = zero
    for unit_price, quantity, line_discount, line_tax in lines:
        subtotal += unit_price.times(quantity)
        discount += line_discount
        tax += line_tax
    tax += shipping_tax
    grand = subtotal - discount + tax + shipping_amount
    return Totals(subtotal, discount, tax, shipping_amount, grand)


def check(computed: Totals, sent: dict[str, Money | None], payment: Money | None = None) -> None:
    """Raise TotalsMismatch naming every sent figure that differs from the computed one.

    `payment` is the payment's amount: it must be the grand total (a payment of
    999.00 for an order of 54.98 is a channel bug, not an order to fulfil).
    """
    mismatches = []
    for name, value in sent.items():
        if value is None:
            continue
        expected: Money = getattr(computed, name)
        if value != expected:
            mismatches.append(
                {"field": f"totals.{name}", "sent": str(value), "computed": str(expected)}
            )
    if payment is not None and payment != computed.grand_total:
        mismatches.append(
            {"field": "payment.amount", "sent": str(payment), "computed": str(computed.grand_total)}
        )
    if mismatches:
        detail = "; ".join(
            f"{m['field']} is {m['sent']} but the lines add up to {m['computed']}"
            for m in mismatches
        )
        raise TotalsMismatch(detail, mismatches=mismatches)


def discount_errors(lines: Iterable[tuple[Money, int, Money]]) -> list[dict[str, str]]:
    """Errors for (unit_price, quantity, discount) lines whose discount exceeds their price.

    A line's discount is for the whole line; more than unit price × quantity would make
    the line worth less than nothing.
    """
    errors = []
    for i, (unit_price, quantity, discount) in enumerate(lines):
        price = unit_price.times(quantity)
        if discount > price:
            errors.append(
                {
                    "field": f"lines.{i}.discount",
                    "message": f"the discount {discount} exceeds the line's price {price}",
                }
            )
    return errors
