"""A line's credit at the amounts the channel says it gave back (a channel refund's
lines: Shopify's refund_line_items subtotal and total_tax), instead of the shares of the
line ordersync computes for those units.

Why: a channel rounds a unit's share of a line's tax its own way. Shopify gave back 1.43
of tax for one of two tees whose line carries 2.87; the largest remainder gives the first
unit 1.44, and the refund recorded would be a cent more than the buyer got. The money
recorded (and the ERP's credit memo that follows) is what the channel refunded.

The channel's figures are bounded, so the books stay whole whatever it says: per line,
the net and the tax credited never exceed what was invoiced of them less what was
credited of them already, and the units' net never exceeds their price (unit price ×
units, before discount). Above a bound is a Conflict (a channel's delivery: parked).
"""

from __future__ import annotations

from dataclasses import replace

from domain.errors import Conflict
from domain.finance import CREDIT_MEMO, INVOICE, DocumentLine, FinancialDocument
from domain.money import Money


def line_left(documents: list[FinancialDocument], line_no: int) -> tuple[int, int]:
    """(net, tax) of one line invoiced and not yet credited."""
    net = tax = 0
    for document in documents:
        sign = {INVOICE: 1, CREDIT_MEMO: -1}.get(document.kind, 0)
        for line in document.lines:
            if line.line_no == line_no:
                net += sign * line.net
                tax += sign * line.tax
    return net, tax


def as_stated(
    currency: str, documents: list[FinancialDocument], part: DocumentLine, net: int, tax: int
) -> DocumentLine:
    """`part` (the units' credit as computed) at the channel's `net` and `tax` instead."""
    net_left, tax_left = line_left(documents, part.line_no)
    price = part.net + part.discount  # unit price × units

    def money(minor: int) -> str:
        return str(Money(minor, currency))

    if net > net_left or tax > tax_left:
        raise Conflict(
            f"line {part.line_no}: the channel refunded {money(net)} net and {money(tax)} tax,"
            f" above what is left to credit of the line: {money(net_left)} net,"
            f" {money(tax_left)} tax",
            line_no=part.line_no,
            net_left=money(net_left),
            tax_left=money(tax_left),
        )
    if net > price:
        raise Conflict(
            f"line {part.line_no}: the channel refunded {money(net)} net for"
            f" {part.quantity} unit(s) priced {money(price)} in all"
        )
    return replace(part, net=net, discount=price - net, tax=tax)
