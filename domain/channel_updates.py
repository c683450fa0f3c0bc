"""What a channel says happened to one of its orders after it sent it: a refund, a
shipment it made, the buyer's request to cancel — each through the lifecycle's own
services, in the caller's transaction (the caller's uow is a domain.joined.Joined).

Each names the order by the channel's external id; an order not here yet (its create is
still on its way) refuses the delivery (CannotApply: parked, and applied by a replay once
the order is in). Each is once per channel id: a refund per transaction id, a shipment per
tracking number; a repeat is stale and changes nothing.

A refund (ChannelRefund): its units that have not shipped are cancelled (their stock goes
back; their money was never captured here, so nothing of it is refunded); shipped units
it restocked are returned and received back into stock at the restock location (the
return's refund gives their money back, and the backorders waiting for them are filled) —
the location the channel names if it is one of ours, else the one the line's units last
shipped from: a channel's own location ids (Shopify's) are not our location codes, and
stock put "at" one would become a warehouse nobody has, which routing allocates from;
shipped units not restocked are refunded as a partial refund by lines; an amount with no
lines is a goodwill refund; the shipping part is a shipping refund. Money is never given
back beyond what was captured (domain/refunds.py refuses it: parked).

Where the channel says what it gave back for a line's units (ChannelRefundLine net and
tax: Shopify's refund_line_items), the return's or partial refund's credit of them is
those amounts, not the shares ordersync would round itself — the money recorded and the
ERP's credit memo are what the buyer got back — within what is left to credit of the
line (domain/stated_credit.py; above it is refused: parked).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from decimal import Decimal

from domain.amendments import cancel_order
from domain.change_commands import CancelOrder, LineCancellation
from domain.channel_commands import ChannelCancelRequest, ChannelRefund, ChannelShipment
from domain.channel_order_sync import Applied, CannotApply
from domain.channel_refund_money import StatedMoney
from domain.commands import (
    OpenReturn,
    ReceivedLineIn,
    ReceiveReturn,
    RecordShipment,
    ReturnLineIn,
    ShippedLineIn,
)
from domain.money_commands import RecordRefund, RefundLineIn
from domain.order_change import line_of
from domain.orders import Order
from domain.ports import UnitOfWork
from domain.refunds import record_refund
from domain.returning import open_return, receive_return
from domain.shipping import record_shipment


def _order(uow: UnitOfWork, channel: str, external_id: str) -> Order:
    order_id = uow.channel_sync.order_id(channel, external_id)
    order = uow.orders.get(order_id) if order_id is not None else None
    if order is None:
        raise CannotApply(f"no order {external_id!r} of channel {channel} (yet): replay it later")
    return order


def apply_refund(
    uow: UnitOfWork, cmd: ChannelRefund, channel: str, delivery: int | None
) -> Applied:
    order = _order(uow, channel, cmd.external_id)
    if uow.finance.find_refund(cmd.transaction_id) is not None:
        return Applied("stale", cmd.external_id, order.id, "this refund is recorded already")
    reason = cmd.reason or "refunded by the channel"
    cancel: dict[int, int] = {}
    restock: dict[str, dict[int, int]] = defaultdict(dict)  # location → line → units
    refund: dict[int, int] = {}
    money = StatedMoney()
    for i, asked in enumerate(cmd.lines):
        line = line_of(order, asked.line_no, f"lines.{i}.line_no")
        location: str | None = None  # where its shipped units go back (None: not restocked)
        unshipped = min(asked.quantity, line.unshipped - cancel.get(line.line_no, 0))
        cancel[line.line_no] = cancel.get(line.line_no, 0) + unshipped
        shipped = asked.quantity - unshipped
        if asked.restock_location is not None and shipped:
            location = _restock_location(uow, order, line.sku, asked.restock_location)
            at = restock[location]
            at[line.line_no] = at.get(line.line_no, 0) + shipped
        elif shipped:
            refund[line.line_no] = refund.get(line.line_no, 0) + shipped
        money.add(asked, unshipped, location)
    if any(cancel.values()):
        lines = [LineCancellation(line_no=n, quantity=q) for n, q in sorted(cancel.items()) if q]
        cancel_order(uow, order.id, CancelOrder(lines=lines, reason=reason), channel=channel)
    refunds = 0
    for location, units in sorted(restock.items()):
        returned = [ReturnLineIn(line_no=n, quantity=q) for n, q in sorted(units.items())]
        ret = open_return(uow, order.id, OpenReturn(lines=returned, reason=reason), channel=channel)
        received = [
            ReceivedLineIn(line_no=n, quantity=q, disposition="restock")
            for n, q in sorted(units.items())
        ]
        receive_return(uow, ret.id, ReceiveReturn(location=location, lines=received))
        stated = money.of(units)
        _refund(uow, order.id, cmd, refunds, kind="return", return_id=ret.id, stated=stated)
        refunds += 1
    if refund:
        lines_in = [RefundLineIn(line_no=n, quantity=q) for n, q in sorted(refund.items())]
        stated = money.of(refund)
        _refund(uow, order.id, cmd, refunds, kind="partial", lines=lines_in, stated=stated)
        refunds += 1
    goods = cmd.amount - cmd.shipping
    if not cmd.lines and goods > 0:
        _refund(uow, order.id, cmd, refunds, kind="goodwill", amount=goods)
        refunds += 1
    if cmd.shipping > 0:
        _refund(uow, order.id, cmd, refunds, kind="shipping", amount=cmd.shipping)
    return Applied("applied", cmd.external_id, order.id)


def _restock_location(uow: UnitOfWork, order: Order, sku: str, named: str) -> str:
    """Where a refund's restocked units of `sku` go back on hand (see the module's
    docstring): `named` if it is a location of ours, else the location of the order's
    latest shipment of the SKU."""
    if uow.inventory.location_exists(named):
        return named
    shipped_from = [
        s.location for s in uow.shipments.of_order(order.id) if any(ln.sku == sku for ln in s.lines)
    ]
    if not shipped_from:
        raise CannotApply(
            f"{sku}: restocked at {named!r}, which is no location of ours, and no shipment"
            " of it says where it left from"
        )
    return shipped_from[-1]


def _refund(
    uow: UnitOfWork,
    order_id: uuid.UUID,
    cmd: ChannelRefund,
    number: int,
    *,
    kind: str,
    amount: Decimal | None = None,
    lines: list[RefundLineIn] | None = None,
    return_id: uuid.UUID | None = None,
    stated: dict[int, tuple[Decimal, Decimal]] | None = None,
) -> None:
    """One of the refund's parts, once per transaction id: the channel's for the first,
    "<id>:<n>" for the others."""
    transaction_id = cmd.transaction_id if number == 0 else f"{cmd.transaction_id}:{number}"
    record_refund(
        uow,
        RecordRefund(
            order_id=order_id,
            transaction_id=transaction_id,
            kind=kind,
            return_id=return_id,
            lines=lines or [],
            amount=amount,
            reason=cmd.reason or "refunded by the channel",
        ),
        stated=stated or None,
    )


def apply_shipment(
    uow: UnitOfWork, cmd: ChannelShipment, channel: str, delivery: int | None
) -> Applied:
    order = _order(uow, channel, cmd.external_id)
    if order.fulfilled_by_channel:
        return Applied("ignored", cmd.external_id, order.id, "fulfilled by the channel")
    if uow.shipments.find(order.id, cmd.carrier, cmd.tracking_number) is not None:
        return Applied("stale", cmd.external_id, order.id, "this shipment is recorded already")
    wanted: dict[str, int] = defaultdict(int)
    for line in cmd.lines:
        wanted[line.sku] += line.quantity
    ordered = {line.sku for line in order.lines}
    strange = sorted(set(wanted) - ordered)
    if strange:
        raise CannotApply(f"the shipment has SKUs the order does not: {', '.join(strange)}")
    location = cmd.location or _reserved_at(order, wanted)
    record_shipment(
        uow,
        RecordShipment(
            order_id=order.id,
            location=location,
            carrier=cmd.carrier,
            tracking_number=cmd.tracking_number,
            lines=[ShippedLineIn(sku=sku, quantity=q) for sku, q in sorted(wanted.items())],
        ),
    )
    return Applied("applied", cmd.external_id, order.id)


def _reserved_at(order: Order, wanted: dict[str, int]) -> str:
    """The one location whose reservations of the order cover the whole shipment."""
    held: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in order.reservations:
        held[r.location][r.sku] += r.quantity
    for location in sorted(held):
        if all(held[location][sku] >= q for sku, q in wanted.items()):
            return location
    raise CannotApply(
        "the shipment names no location and its units are not all reserved at one: "
        "it cannot be recorded as it is"
    )


def apply_cancel_request(
    uow: UnitOfWork, cmd: ChannelCancelRequest, channel: str, delivery: int | None
) -> Applied:
    order = _order(uow, channel, cmd.external_id)
    if not any(line.unshipped for line in order.lines):
        return Applied("ignored", cmd.external_id, order.id, "nothing left to cancel")
    reason = cmd.reason or "the buyer asked the channel to cancel"
    cancel_order(uow, order.id, CancelOrder(reason=reason), channel=channel)
    return Applied("applied", cmd.external_id, order.id)
