"""Refunds: money given back, never more than was captured (less refunded) nor more than
was invoiced (less credited), each with one credit memo split exactly (domain.crediting).

Once per platform transaction id: the same refund again returns the recorded one and
writes nothing; the id reused for other content is a DuplicateMismatch. A return is
refunded once, for its lines' units.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from decimal import Decimal

from domain.crediting import credit_amount, credit_shipping, credit_units, memo
from domain.errors import ConcurrencyConflict, Conflict, DuplicateMismatch, NotFound
from domain.events import DomainEvent, RefundRecorded
from domain.finance import FinancialDocument, Refund
from domain.invoicing import amount_lines
from domain.money import Money
from domain.money_check import ensure_consistent
from domain.money_commands import RecordRefund
from domain.money_input import currency_of
from domain.orders import Order
from domain.ownership import own_order
from domain.ports import UnitOfWork
from domain.projection import order_event


def record_refund(
    uow: UnitOfWork,
    cmd: RecordRefund,
    *,
    channel: str | None = None,
    stated: Mapping[int, tuple[Decimal, Decimal]] | None = None,
) -> tuple[Refund, FinancialDocument, bool]:
    """Record a refund and its credit memo; (refund, credit memo, created). `channel`: the
    caller is that channel, which may refund only its own orders. `stated`: line_no →
    (net, tax) a channel gave back for the refund's units of that line (a return's or a
    partial refund's), credited as such rather than as the units' shares of the line."""
    with uow:
        order = own_order(uow.orders.get(cmd.order_id, lock=True), cmd.order_id, channel)
        amounts = _stated_minor(order, stated)
        asked = _asked(order, cmd, amounts)
        existing = uow.finance.find_refund(cmd.transaction_id)
        if existing is not None:
            if existing.detail != asked:
                raise DuplicateMismatch(
                    f"refund transaction {cmd.transaction_id!r} is already recorded with other"
                    " content",
                    refund_id=str(existing.id),
                )
            recorded = uow.finance.documents(order.id)
            return existing, next(d for d in recorded if d.refund_id == existing.id), False
        documents = uow.finance.documents(order.id)
        refund_id = uuid.uuid4()
        credit = _credit_memo(uow, order, cmd, documents, refund_id, amounts)
        _within_bounds(order, credit.total)
        refund = Refund(
            order.id,
            cmd.transaction_id,
            cmd.kind,
            credit.total,
            order.currency,
            cmd.reason,
            asked,
            cmd.return_id,
            id=refund_id,
        )
        previous = order.status
        order.refunded_minor += credit.total
        order.credited_minor += credit.total
        order.bump()
        ensure_consistent(order, [*documents, credit], uow.finance.payments(order.id))
        uow.orders.save(order)
        if not uow.finance.add_refund(refund):
            raise ConcurrencyConflict()  # the same transaction id, for another order, won
        uow.finance.add_document(credit)
        uow.changes.record(
            order,
            "refund",
            previous,
            {
                "refund_id": str(refund.id),
                "kind": refund.kind,
                "amount": _money(order, refund.amount),
            },
        )
        uow.emit(refund_event(order, refund, credit))
        uow.commit()
    return refund, credit, True


def _units(cmd: RecordRefund) -> dict[int, int]:
    """The units asked for per line (a line named twice counts twice)."""
    units: dict[int, int] = {}
    for line in cmd.lines:
        units[line.line_no] = units.get(line.line_no, 0) + line.quantity
    return units


def _stated_minor(
    order: Order, stated: Mapping[int, tuple[Decimal, Decimal]] | None
) -> dict[int, tuple[int, int]] | None:
    """A channel's stated line amounts in minor units of the order's currency."""
    if stated is None:
        return None
    return {
        line_no: (Money.parse(net, order.currency).minor, Money.parse(tax, order.currency).minor)
        for line_no, (net, tax) in stated.items()
    }


def _asked(
    order: Order, cmd: RecordRefund, stated: dict[int, tuple[int, int]] | None = None
) -> dict[str, object]:
    """What the refund asks for, normalized (amounts in minor units, lines summed per
    line): a repeat is the same request, however its JSON was spelled."""
    units = _units(cmd)
    extra: dict[str, object] = {}
    if stated:  # only then: refunds recorded without them compare as they always did
        extra["stated"] = [[n, *stated[n]] for n in sorted(stated)]
    return extra | {
        "order_id": str(order.id),
        "kind": cmd.kind,
        "return_id": None if cmd.return_id is None else str(cmd.return_id),
        "lines": [[line_no, units[line_no]] for line_no in sorted(units)],
        "amount": None if cmd.amount is None else currency_of(order, cmd.amount, cmd.currency),
        "reason": cmd.reason,
    }


def _credit_memo(
    uow: UnitOfWork,
    order: Order,
    cmd: RecordRefund,
    documents: list[FinancialDocument],
    refund_id: uuid.UUID,
    stated: dict[int, tuple[int, int]] | None,
) -> FinancialDocument:
    amount = None if cmd.amount is None else currency_of(order, cmd.amount, cmd.currency)
    if cmd.kind == "return":
        assert cmd.return_id is not None
        goods = uow.finance.returned_goods(cmd.return_id)
        if goods is None or goods.order_id != order.id:
            raise NotFound(f"no return {cmd.return_id} of this order")
        if uow.finance.refund_of_return(goods.id) is not None:
            raise Conflict(f"return {goods.id} is refunded already")
        return memo(order, refund_id, credit_units(order, documents, goods.lines, stated))
    if cmd.lines:
        return memo(order, refund_id, credit_units(order, documents, _units(cmd), stated))
    if cmd.kind == "shipping":
        return memo(order, refund_id, shipping=credit_shipping(order, documents, amount))
    assert amount is not None  # partial without lines, goodwill: the command's shape
    of_goods, of_shipping = credit_amount(order, documents, amount)
    return memo(order, refund_id, amount=of_goods, shipping=of_shipping)


def _money(order: Order, minor: int) -> str:
    return str(Money(minor, order.currency))


def _within_bounds(order: Order, amount: int) -> None:
    """Never more than captured less refunded, nor than invoiced less credited."""
    refundable = order.captured_minor - order.refunded_minor
    if amount > refundable:
        raise Conflict(
            f"a refund of {_money(order, amount)} is above what was captured and not refunded:"
            f" {_money(order, order.captured_minor)} captured,"
            f" {_money(order, order.refunded_minor)} refunded",
            captured=_money(order, order.captured_minor),
            refunded=_money(order, order.refunded_minor),
            refundable=_money(order, refundable),
        )
    creditable = order.invoiced_minor - order.credited_minor
    if amount > creditable:
        raise Conflict(
            f"a refund of {_money(order, amount)} is above what was invoiced and not credited:"
            f" {_money(order, creditable)}"
        )
    if amount == 0:
        raise Conflict("the refund comes to nothing: those units carry no money")


def refund_event(order: Order, refund: Refund, credit: FinancialDocument) -> DomainEvent:
    """refund.recorded: the credit memo's content, for the ERP and the origin channel."""
    return order_event(
        RefundRecorded,
        order,
        refund_id=str(refund.id),
        transaction_id=refund.transaction_id,
        kind=refund.kind,
        return_id=None if refund.return_id is None else str(refund.return_id),
        reason=refund.reason,
        amount=_money(order, credit.total),
        net=_money(order, credit.net),
        tax=_money(order, credit.tax),
        shipping=_money(order, credit.shipping),
        shipping_tax=_money(order, credit.shipping_tax),
        lines=amount_lines(order, credit),
    )
