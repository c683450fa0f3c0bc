"""Invoices: one per shipment, for exactly the units it shipped.

Each unit of a line carries an equal share of the line's discount and tax by largest
remainder (domain.money_split.unit_range) and shipments take the first unshipped units,
so a line's invoices add up to the line to the minor unit however it is parcelled. The
shipping and its tax are charged on the order's first invoice only.
"""

from __future__ import annotations

import uuid

from domain.events import AmountLine, InvoiceOut
from domain.finance import INVOICE, DocumentLine, FinancialDocument
from domain.money import Money
from domain.money_split import unit_range
from domain.orders import Order, OrderLine


def units_of(line: OrderLine, start: int, count: int) -> DocumentLine:
    """Units [start, start + count) of `line` with their exact share of its money."""
    discount = unit_range(line.discount.minor, line.quantity, start, count)
    return DocumentLine(
        line_no=line.line_no,
        sku=line.sku,
        quantity=count,
        net=line.unit_price.minor * count - discount,
        discount=discount,
        tax=unit_range(line.tax.minor, line.quantity, start, count),
    )


def shipping_charge(order: Order) -> tuple[int, int]:
    """The order's shipping amount and its tax, in minor units."""
    if not order.shipping:
        return 0, 0
    return (
        Money.parse(order.shipping["amount"], order.currency).minor,
        Money.parse(order.shipping["tax"], order.currency).minor,
    )


def invoice_for(order: Order, shipped: dict[int, int], shipment_id: uuid.UUID) -> FinancialDocument:
    """The invoice of a shipment of `shipped` (line_no → units), already counted on the
    order's lines: the units it took are the last `units` of each line's shipped ones."""
    before = {line.line_no: line.shipped - shipped.get(line.line_no, 0) for line in order.lines}
    lines = tuple(
        units_of(order.line(line_no), before[line_no], units)
        for line_no, units in sorted(shipped.items())
    )
    first = not any(before.values())
    shipping, shipping_tax = shipping_charge(order) if first else (0, 0)
    return FinancialDocument(
        order.id,
        INVOICE,
        order.currency,
        lines,
        shipping=shipping,
        shipping_tax=shipping_tax,
        shipment_id=shipment_id,
    )


def shipped_value(order: Order) -> int:
    """What everything shipped so far is worth, shipping included once anything shipped:
    what the order's invoices must add up to."""
    value = sum(
        part.net + part.tax for part in (units_of(line, 0, line.shipped) for line in order.lines)
    )
    if any(line.shipped for line in order.lines):
        value += sum(shipping_charge(order))
    return value


def amount_lines(order: Order, document: FinancialDocument) -> list[AmountLine]:
    """A document's lines as events carry them (decimal strings)."""
    return [
        AmountLine(
            line_no=line.line_no,
            sku=line.sku,
            quantity=line.quantity,
            net=str(Money(line.net, order.currency)),
            discount=str(Money(line.discount, order.currency)),
            tax=str(Money(line.tax, order.currency)),
        )
        for line in document.lines
    ]


def invoice_out(order: Order, invoice: FinancialDocument) -> InvoiceOut:
    """The invoice as shipment.dispatched carries it."""

    def money(minor: int) -> str:
        return str(Money(minor, order.currency))

    return InvoiceOut(
        invoice_id=str(invoice.id),
        net=money(invoice.net),
        tax=money(invoice.tax),
        shipping=money(invoice.shipping),
        shipping_tax=money(invoice.shipping_tax),
        total=money(invoice.total),
        lines=amount_lines(order, invoice),
    )
