"""Payments: what the channel secured at acceptance, up-front funds applied to each
invoice, and the platform's authorizations, captures (per shipment) and voids.

Each payment is recorded once per (kind, platform transaction id): the same report again
returns the recorded payment and writes nothing; the id reused for other content is a
DuplicateMismatch. The order row is the lock: payments, refunds and shipments of one
order change its money one transaction at a time.
"""

from __future__ import annotations

from domain.errors import ConcurrencyConflict, Conflict, DuplicateMismatch
from domain.events import DomainEvent, PaymentRecorded
from domain.finance import (
    AUTHORIZATION,
    CAPTURE,
    VOID,
    FinancialDocument,
    Payment,
)
from domain.line_money import live_totals
from domain.money import MAX_MINOR, Money
from domain.money_check import captured_against, ensure_consistent
from domain.money_commands import RecordPayment
from domain.money_input import currency_of
from domain.orders import Order
from domain.ownership import own_order
from domain.ports import UnitOfWork
from domain.projection import order_event

PREPAID = "prepaid"  # the source of an up-front payment applied to an invoice


def secure_payment(order: Order) -> None:
    """At acceptance: an order whose payment is authorized, or paid (captured up front by
    the channel), has its amount authorized; pending or none, nothing."""
    payment = order.payment or {}
    if payment.get("status") in ("authorized", "paid"):
        order.authorized_minor = Money.parse(payment["amount"], order.currency).minor


def apply_prepaid(order: Order, invoice: FinancialDocument) -> Payment | None:
    """An order paid up front: its secured funds applied to a new invoice (in the
    shipment's transaction), as a capture of that shipment. None for other orders."""
    if (order.payment or {}).get("status") != "paid" or invoice.total == 0:
        return None
    assert invoice.shipment_id is not None
    order.captured_minor += invoice.total
    return Payment(
        order.id,
        CAPTURE,
        f"{PREPAID}:{invoice.shipment_id}",
        PREPAID,
        invoice.total,
        order.currency,
        invoice.shipment_id,
    )


def still_to_apply(order: Order) -> int:
    """What an order paid up front will still apply to the invoices of its units not yet
    shipped (and their shipping, if nothing shipped yet): a void may not release it, or
    the next shipment would have less secured than its invoice. 0 for other orders (a
    capture per shipment waits for the platform) and once nothing is left to ship."""
    if (order.payment or {}).get("status") != "paid":
        return 0
    if not any(line.unshipped for line in order.lines):
        return 0
    return max(0, live_totals(order).grand_total.minor - order.invoiced_minor)


def record_payment(
    uow: UnitOfWork, cmd: RecordPayment, *, source: str, channel: str | None = None
) -> tuple[Payment, bool]:
    """Record an authorization, capture or void; (payment, created). `channel`: the
    caller is that channel, which may report only its own orders' payments."""
    with uow:
        order = own_order(uow.orders.get(cmd.order_id, lock=True), cmd.order_id, channel)
        amount = currency_of(order, cmd.amount, cmd.currency)
        payment = Payment(
            order.id, cmd.kind, cmd.transaction_id, source, amount, order.currency, cmd.shipment_id
        )
        existing = uow.finance.find_payment(cmd.kind, cmd.transaction_id)
        if existing is not None:
            if not existing.same_as(payment):
                raise DuplicateMismatch(
                    f"{cmd.kind} transaction {cmd.transaction_id!r} is already recorded"
                    " with other content",
                    payment_id=str(existing.id),
                )
            return existing, False
        payments, documents = uow.finance.payments(order.id), uow.finance.documents(order.id)
        _apply(order, payment, documents, payments)
        previous = order.status
        order.bump()
        ensure_consistent(order, documents, [*payments, payment])
        uow.orders.save(order)
        if not uow.finance.add_payment(payment):
            raise ConcurrencyConflict()  # the same transaction id, for another order, won
        uow.changes.record(
            order,
            cmd.kind,
            previous,
            {"payment_id": str(payment.id), "transaction_id": payment.transaction_id},
        )
        uow.emit(payment_event(order, payment))
        uow.commit()
    return payment, True


def _apply(
    order: Order, payment: Payment, documents: list[FinancialDocument], payments: list[Payment]
) -> None:
    """Move the order's figures by `payment`, or refuse it (Conflict naming the figures)."""
    cur = order.currency
    free = order.authorized_minor - order.captured_minor  # authorized and not captured

    def money(minor: int) -> str:
        return str(Money(minor, cur))

    if payment.kind == AUTHORIZATION:
        if order.authorized_minor + payment.amount >= MAX_MINOR:  # what a BIGINT holds, and more
            raise Conflict(f"authorizations above {money(MAX_MINOR - 1)} are not taken")
        order.authorized_minor += payment.amount
        return
    if payment.amount > free:
        what = "a capture" if payment.kind == CAPTURE else "a void"
        raise Conflict(
            f"{what} of {money(payment.amount)} is above what was authorized and not captured:"
            f" {money(order.authorized_minor)} authorized, {money(order.captured_minor)} captured",
            authorized=money(order.authorized_minor),
            captured=money(order.captured_minor),
            available=money(free),
        )
    if payment.kind == VOID:
        needed = still_to_apply(order)
        if payment.amount > free - needed:
            raise Conflict(
                f"a void of {money(payment.amount)} would leave less than the"
                f" {money(needed)} this order paid up front still has to cover on its unshipped"
                f" units: {money(order.authorized_minor)} authorized,"
                f" {money(order.captured_minor)} applied",
                authorized=money(order.authorized_minor),
                captured=money(order.captured_minor),
                available=money(free - needed),
            )
        order.authorized_minor -= payment.amount
        return
    invoice = next((d for d in documents if d.shipment_id == payment.shipment_id), None)
    if invoice is None:
        raise Conflict(f"shipment {payment.shipment_id} of this order has no invoice to capture")
    left = invoice.total - captured_against(payments)[payment.shipment_id]
    if payment.amount > left:
        raise Conflict(
            f"a capture of {money(payment.amount)} is above what is left to capture of"
            f" shipment {payment.shipment_id}'s invoice: {money(left)} of {money(invoice.total)}",
            invoice_total=money(invoice.total),
            left_to_capture=money(left),
        )
    order.captured_minor += payment.amount


def payment_event(order: Order, payment: Payment) -> DomainEvent:
    """payment.recorded, with the order's authorized and captured after it."""
    return order_event(
        PaymentRecorded,
        order,
        payment_id=str(payment.id),
        kind=payment.kind,
        transaction_id=payment.transaction_id,
        amount=str(Money(payment.amount, order.currency)),
        shipment_id=None if payment.shipment_id is None else str(payment.shipment_id),
        authorized=str(Money(order.authorized_minor, order.currency)),
        captured=str(Money(order.captured_minor, order.currency)),
    )
