"""A channel's order captured later, at the channel: recorded here through the payment
service (domain/payments.py), from a later version of the order that says so.

An order may arrive authorized (Shopify financial_status "authorized", a WooCommerce
order still pending) and be captured at the channel afterwards. The channel sends no
capture of its own, only the order again: its payment status now "paid" (Shopify "paid",
WooCommerce "processing" with date_paid, Amazon, Square's tenders covering the total), or
an amount captured so far (ChannelOrder.captured: Shopify "partially_paid",
current_total_price − total_outstanding). Unrecorded, every later refund of the order
would be refused as "above what was captured".

Here captures are per shipment (docs/money.md): a newer version applies what the channel
captured, beyond what is captured here, to the order's invoices not yet captured, oldest
first — one capture each, transaction id `<channel>:<external id>:capture:<version>`
(":<n>" after the first), so the same version again is the same payment. Paid in full,
every invoice is captured and the order becomes *paid up front*: its later shipments have
their invoices applied as they ship, as for an order paid when it arrived. What the
captures (and, paid in full, the units still to ship) need beyond what is authorized and
not captured is first authorized (`…:authorization:<version>`): a channel's pending order
it then took payment for. A partial amount beyond the invoices waits for the next version
(or the platform's own POST /v1/payments). Once per order version: the business version
guard makes a replay stale before this runs.
"""

from __future__ import annotations

import copy
import hashlib
import uuid
from datetime import UTC
from typing import Literal

from domain.channel_commands import ChannelOrder
from domain.errors import ConcurrencyConflict
from domain.finance import INVOICE
from domain.money import Money
from domain.money_check import captured_against, ensure_consistent
from domain.money_commands import RecordPayment
from domain.orders import Order
from domain.payments import record_payment, still_to_apply
from domain.ports import UnitOfWork
from domain.status import OrderStatus

PAID = "paid"
MAX_TRANSACTION_ID = 128  # RecordPayment's transaction_id


def settle_channel_payment(
    uow: UnitOfWork, order_id: uuid.UUID, cmd: ChannelOrder, channel: str
) -> bool:
    """Record what a newer version of a channel's order says was captured (the module's
    rule); whether anything was recorded."""
    order = uow.orders.get(order_id)
    assert order is not None  # orders are never deleted
    if _captured_at_channel(order, cmd) is None:
        return False
    # Locked (until the delivery's transaction ends, as the payment service would lock it)
    # before its figures and records are read: a shipment of it committing meanwhile
    # cannot make what is computed here stale.
    order = uow.orders.get(order_id, lock=True)
    assert order is not None
    target = _captured_at_channel(order, cmd)
    if target is None or order.status is OrderStatus.CANCELLED or _paid_up_front(order):
        return False
    in_full = cmd.order.payment is not None and cmd.order.payment.status == PAID
    owed = _owed(uow, order, None if in_full else target - order.captured_minor)
    future = still_to_apply(_as_paid(order)) if in_full else 0
    if not owed and not in_full:
        return False
    shortfall = sum(amount for _, amount in owed) + future
    shortfall -= order.authorized_minor - order.captured_minor
    version = _version(cmd)
    if shortfall > 0:
        _pay(uow, order, channel, "authorization", version, shortfall)
    for n, (shipment_id, amount) in enumerate(owed):
        _pay(uow, order, channel, "capture", version, amount, shipment_id, n)
    if in_full:
        _mark_paid(uow, order_id, channel)
    return True


def _captured_at_channel(order: Order, cmd: ChannelOrder) -> int | None:
    """What the channel says it has captured of the order (None: it does not say)."""
    payment = cmd.order.payment
    if payment is None:
        return None
    whole = Money.parse(payment.amount, order.currency).minor
    if payment.status == PAID:
        return whole
    if cmd.captured is None:
        return None
    return min(whole, Money.parse(cmd.captured, order.currency).minor)


def _paid_up_front(order: Order) -> bool:
    return (order.payment or {}).get("status") == PAID


def _as_paid(order: Order) -> Order:
    paid = copy.copy(order)
    paid.payment = {**(order.payment or {}), "status": PAID}
    return paid


def _owed(uow: UnitOfWork, order: Order, up_to: int | None) -> list[tuple[uuid.UUID, int]]:
    """(shipment, amount) to capture: each invoice's total less what was captured against
    it, oldest first, all of them (`up_to` None) or at most `up_to` in all."""
    captured = captured_against(uow.finance.payments(order.id))
    owed = []
    left = up_to
    for invoice in uow.finance.documents(order.id):
        if invoice.kind != INVOICE or invoice.shipment_id is None:
            continue
        amount = invoice.total - captured[invoice.shipment_id]
        if left is not None:
            amount = min(amount, left)
            left -= max(amount, 0)
        if amount > 0:
            owed.append((invoice.shipment_id, amount))
    return owed


def _version(cmd: ChannelOrder) -> str:
    """The order version as a transaction id's part: its UTC clock (and tie-breaker)."""
    stamp = cmd.version_at.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    return stamp if cmd.version_no == 0 else f"{stamp}.{cmd.version_no}"


def _transaction_id(channel: str, external_id: str, kind: str, version: str, n: int) -> str:
    """`<channel>:<external id>:<kind>:<version>[:<n>]`; a long external id by its digest,
    so that the id stays within what a transaction id holds."""
    tail = f":{kind}:{version}" + (f":{n}" if n else "")
    whole = f"{channel}:{external_id}{tail}"
    if len(whole) <= MAX_TRANSACTION_ID:
        return whole
    digest = hashlib.sha256(external_id.encode()).hexdigest()[:32]
    return f"{channel}:sha256-{digest}{tail}"[:MAX_TRANSACTION_ID]


def _pay(
    uow: UnitOfWork,
    order: Order,
    channel: str,
    kind: Literal["authorization", "capture"],
    version: str,
    amount: int,
    shipment_id: uuid.UUID | None = None,
    n: int = 0,
) -> None:
    cmd = RecordPayment(
        order_id=order.id,
        kind=kind,
        transaction_id=_transaction_id(channel, order.external_id, kind, version, n),
        amount=Money(amount, order.currency).amount,
        shipment_id=shipment_id,
    )
    record_payment(uow, cmd, source=f"channel:{channel}", channel=channel)


def _mark_paid(uow: UnitOfWork, order_id: uuid.UUID, channel: str) -> None:
    """The order is paid up front from now on: each later shipment's invoice is applied
    from the funds the channel holds (domain.payments.apply_prepaid)."""
    with uow:
        order = uow.orders.get(order_id, lock=True)
        if order is None:
            raise ConcurrencyConflict()
        previous = order.status
        order.payment = {**(order.payment or {}), "status": PAID}
        order.bump()
        ensure_consistent(order, uow.finance.documents(order_id), uow.finance.payments(order_id))
        uow.orders.save(order)
        uow.changes.record(
            order, "payment", previous, {"status": PAID, "source": f"channel:{channel}"}
        )
        uow.commit()
