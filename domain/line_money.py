"""The money of some units of a line, and of what is left of an order.

A line's discount and tax are shared over its ordered units (domain/money_split): the
units cancelled and the units left are disjoint ranges of them, so their money adds up
to the line's, to the minor unit, however often the line is cut.
"""

from __future__ import annotations

from domain.events import AmountLine, MoneyLine
from domain.invoicing import units_of
from domain.money import Money
from domain.orders import Order, OrderLine
from domain.totals import Totals, compute


def units_money(line: OrderLine, start: int, count: int) -> tuple[Money, Money, Money]:
    """(net, discount, tax) of the line's units [start, start + count): net is their price
    less their share of the discount."""
    part, currency = units_of(line, start, count), line.unit_price.currency
    return Money(part.net, currency), Money(part.discount, currency), Money(part.tax, currency)


def amount_line(line: OrderLine, start: int, count: int) -> AmountLine:
    """The units [start, start + count) of a line as a document's line."""
    net, discount, tax = units_money(line, start, count)
    return AmountLine(
        line_no=line.line_no,
        sku=line.sku,
        quantity=count,
        net=str(net),
        discount=str(discount),
        tax=str(tax),
    )


def live_line(line: OrderLine) -> MoneyLine:
    """The line as it now stands: its live quantity (the first units: cancellations take
    the last) with their share of its discount and tax."""
    _, discount, tax = units_money(line, 0, line.live)
    return MoneyLine(
        line_no=line.line_no,
        sku=line.sku,
        quantity=line.live,
        unit_price=str(line.unit_price),
        discount=str(discount),
        tax=str(tax),
    )


def live_totals(order: Order) -> Totals:
    """The order's totals over what is left of its lines (shipping as it was)."""
    zero = Money.zero(order.currency)
    shipping = order.shipping or {}
    amount = Money.parse(shipping["amount"], order.currency) if shipping else zero
    tax = Money.parse(shipping["tax"], order.currency) if shipping else zero
    lines = []
    for line in order.lines:
        _, discount, line_tax = units_money(line, 0, line.live)
        lines.append((line.unit_price, line.live, discount, line_tax))
    return compute(lines, amount, tax)
