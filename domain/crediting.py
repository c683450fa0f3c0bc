"""Credit memos: what a refund gives back, split exactly into net, tax and shipping.

- Units (a return's lines, a partial refund of units) take each line's shipped units in
  shipping order, after those already credited, with their exact share of the line's
  discount and tax (the same unit shares the invoices used), so a line's credit memos
  never exceed its invoices, to the minor unit.
- An amount alone (partial, goodwill) splits over what is left to credit of the four
  components — the goods' net and tax, the shipping and its tax (invoiced less credited)
  — in proportion (largest remainder), each part recorded as what it is; it is at most
  what is left of them all.
- Shipping gives back at most the invoiced shipping and its tax less what was credited of
  them (by shipping refunds and the shipping parts of amounts): all of it, or an amount
  split between them in that proportion.

- A channel's refund may state what it gave back for a line's units (its net and tax):
  the credit carries those amounts instead of the units' shares, within what is left to
  credit of that line (domain/stated_credit.py).

So no component is ever credited beyond what was invoiced of it: units whose value was
partly given back already by an amount are refused (a Conflict naming what is left).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping

from domain.errors import Conflict, ValidationFailed
from domain.finance import CREDIT_MEMO, INVOICE, DocumentLine, FinancialDocument
from domain.invoicing import units_of
from domain.money import Money
from domain.money_split import split
from domain.orders import Order
from domain.stated_credit import as_stated


def _sum(documents: list[FinancialDocument], kind: str, attribute: str) -> int:
    return sum(getattr(d, attribute) for d in documents if d.kind == kind)


def _left(documents: list[FinancialDocument], attribute: str) -> int:
    """Invoiced less credited of one component (net, tax, shipping, shipping_tax)."""
    return _sum(documents, INVOICE, attribute) - _sum(documents, CREDIT_MEMO, attribute)


def _pools(documents: list[FinancialDocument]) -> tuple[int, int, int, int]:
    """What is left to credit of the goods' net, the goods' tax, the shipping and its tax."""
    shipping_tax = _left(documents, "shipping_tax")
    return (
        _left(documents, "net"),
        _left(documents, "tax") - shipping_tax,
        _left(documents, "shipping"),
        shipping_tax,
    )


def credited_units(documents: list[FinancialDocument]) -> dict[int, int]:
    """Units credited so far, per line."""
    units: dict[int, int] = defaultdict(int)
    for memo in documents:
        if memo.kind == CREDIT_MEMO:
            for line in memo.lines:
                units[line.line_no] += line.quantity
    return units


def memo(
    order: Order,
    refund_id: uuid.UUID,
    lines: tuple[DocumentLine, ...] = (),
    *,
    shipping: tuple[int, int] = (0, 0),
    amount: tuple[int, int] = (0, 0),
) -> FinancialDocument:
    """A credit memo of units (`lines`), of shipping (with its tax), or of an amount (its
    net and tax)."""
    return FinancialDocument(
        order.id,
        CREDIT_MEMO,
        order.currency,
        lines,
        shipping=shipping[0],
        shipping_tax=shipping[1],
        other_net=amount[0],
        other_tax=amount[1],
        refund_id=refund_id,
    )


def credit_units(
    order: Order,
    documents: list[FinancialDocument],
    wanted: dict[int, int],
    stated: Mapping[int, tuple[int, int]] | None = None,
) -> tuple[DocumentLine, ...]:
    """The credit of `wanted` units (line_no → units), each line's next shipped ones; a line
    in `stated` (line_no → (net, tax), what a channel gave back for those units) at those
    amounts, within what is left to credit of it (domain.stated_credit)."""
    credited = credited_units(documents)
    lines = []
    for line_no, units in sorted(wanted.items()):
        line = next((ln for ln in order.lines if ln.line_no == line_no), None)
        if line is None:
            message = f"the order has no line {line_no}"
            raise ValidationFailed(message, errors=[{"field": "lines", "message": message}])
        left = line.shipped - credited[line_no]
        if units > left:
            raise Conflict(
                f"line {line_no}: {units} unit(s) to refund, {left} shipped and not yet refunded"
            )
        part = units_of(line, credited[line_no], units)
        if stated is not None and line_no in stated:
            part = as_stated(order.currency, documents, part, *stated[line_no])
        lines.append(part)
    net_left, tax_left, _, _ = _pools(documents)
    net, tax = sum(part.net for part in lines), sum(part.tax for part in lines)
    if net > net_left or tax > tax_left:
        raise Conflict(
            f"these units are worth {Money(net + tax, order.currency)}, but an amount refunded"
            f" before took part of the goods' value: {Money(net_left + tax_left, order.currency)}"
            " is left to refund of it (refund an amount instead)"
        )
    return tuple(lines)


def credit_amount(
    order: Order, documents: list[FinancialDocument], amount: int
) -> tuple[tuple[int, int], tuple[int, int]]:
    """An amount split over what is left of each component: ((the goods' net, their tax),
    (shipping, its tax))."""
    pools = _pools(documents)
    left = sum(pools)
    if amount > left:
        raise Conflict(
            f"a refund of {Money(amount, order.currency)} is above what was invoiced and not"
            f" credited: {Money(left, order.currency)}"
        )
    net, tax, shipping, shipping_tax = split(amount, list(pools))
    return (net, tax), (shipping, shipping_tax)


def credit_shipping(
    order: Order, documents: list[FinancialDocument], amount: int | None
) -> tuple[int, int]:
    """(shipping, its tax) to give back: all that is left of them, or `amount` of it."""
    shipping, tax = _left(documents, "shipping"), _left(documents, "shipping_tax")
    if amount is None:
        amount = shipping + tax
    if amount > shipping + tax:
        raise Conflict(
            f"a shipping refund of {Money(amount, order.currency)} is above the shipping"
            f" invoiced and not credited: {Money(shipping + tax, order.currency)}"
        )
    if amount == 0:
        raise Conflict("no shipping was invoiced that is not credited already")
    ship_part, tax_part = split(amount, [shipping, tax])
    return ship_part, tax_part
