"""A channel's order at a business version (ChannelOrder): created, changed, or stale.

The version decides first, under the (channel, external id) key (ChannelSyncRepository
.advance, one upsert): only a newer version changes anything; an older one is recorded as
stale and changes nothing. So deliveries may come in any order — an update before its
create makes the order in the update's state, and the create, older, is stale.

**The tie.** Shopify's and WooCommerce's clocks tick once a second, so two versions can
carry the same (version_at, version_no). At a tie, the same content (the normalized
order's fingerprint, with its cancelled and reserve flags: not the raw bytes, which
differ in key order or spacing) is the same version again: stale. Other content at a tie
is a change the channel's clock could not tell apart from the stored one, and is applied —
the last to arrive wins — with one exception that makes the outcome independent of the
arrival order where it matters: a cancellation is never undone. A channel cannot reopen
a cancelled order, so a non-cancelled version arriving after a cancelled one (at a tie or
not) changes nothing but the stored version (`ignored`, said on the delivery).

An order not seen before is created in the version's state: `cancelled` → created and
cancelled in one step (order.accepted then order.cancelled, nothing reserved: no
allocation reaches the WMS); `reserve_stock=False` (Amazon FBA) → recorded as fulfilled by
the channel (domain.services.place_order). A known order at a newer version takes what
the lifecycle can take before shipment, through its services: a new shipping address and
lower line quantities (domain/amendments.edit_order), a cancellation (cancel_order). What
it cannot take — a line's quantity above what was ordered, a line that was not there —
refuses the delivery (CannotApply: parked, with the reason). Prices, customer and payment
details of a later version are the channel's record, not changes ordersync makes — but
for one: a later version that says the order is now paid (or captured in part) records
that capture through the payment service (domain/channel_payments.py).
"""

from __future__ import annotations

import hashlib
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass

from domain.amendments import cancel_order, edit_order
from domain.change_commands import CancelOrder, EditOrder, LineQuantity
from domain.channel_commands import ChannelOrder
from domain.channel_payments import settle_channel_payment
from domain.commands import AddressIn, PlaceOrder
from domain.customers import customer_updated, profile_of
from domain.errors import ConcurrencyConflict, UnknownSku, ValidationFailed
from domain.events import OrderCancelled
from domain.line_money import amount_line
from domain.normalize import build_order
from domain.orders import Order
from domain.ports import ChannelVersion, UnitOfWork
from domain.projection import order_event
from domain.services import accepted, place_order
from domain.status import OrderStatus

CHANNEL_REASON = "changed by the channel"


class CannotApply(ValidationFailed):
    """The channel's delivery asks for what ordersync cannot do as it is (parked)."""

    code = "cannot-apply"


@dataclass(frozen=True, slots=True)
class Applied:
    """What became of one command: applied, stale (an older or the same version), or
    ignored (nothing of it is ordersync's to change: `note` says why)."""

    state: str
    external_id: str | None = None
    order_id: uuid.UUID | None = None
    note: str | None = None


def version_of(cmd: ChannelOrder, order: Order) -> ChannelVersion:
    """The command's version, its fingerprint the normalized content's (domain.orders)."""
    content = f"{order.fingerprint}|cancelled={cmd.cancelled}|reserve={cmd.reserve_stock}"
    digest = hashlib.sha256(content.encode()).hexdigest()
    return ChannelVersion(cmd.version_at, cmd.version_no, digest)


def apply_order(uow: UnitOfWork, cmd: ChannelOrder, channel: str, delivery: int | None) -> Applied:
    """One ChannelOrder in the caller's transaction (`uow` is a domain.joined.Joined)."""
    external_id = cmd.order.external_id
    normalized = build_order(cmd.order, channel=channel)  # a bad document fails before anything
    if not uow.channel_sync.advance(channel, external_id, version_of(cmd, normalized), delivery):
        return Applied("stale", external_id, note="not newer than the version applied")
    known = uow.channel_sync.order_id(channel, external_id)
    if known is None:
        if cmd.cancelled:
            order = place_cancelled(uow, cmd.order, channel=channel)
        else:
            order, created = place_order(
                uow, cmd.order, channel=channel, fulfilled_by_channel=not cmd.reserve_stock
            )
            if not created:  # only a writer outside the version key can get here first
                raise ConcurrencyConflict()
        return Applied("applied", external_id, order.id)
    return _change(uow, known, cmd, normalized, channel)


def _change(
    uow: UnitOfWork, order_id: uuid.UUID, cmd: ChannelOrder, new: Order, channel: str
) -> Applied:
    current = uow.orders.get(order_id)
    assert current is not None  # orders are never deleted
    external_id = current.external_id
    if current.status is OrderStatus.CANCELLED:
        if cmd.cancelled:
            return Applied("applied", external_id, order_id, "already cancelled")
        note = "the order is cancelled: a channel cannot reopen it"
        return Applied("ignored", external_id, order_id, note)
    paid = settle_channel_payment(uow, order_id, cmd, channel)
    if cmd.cancelled:
        if not any(line.unshipped for line in current.lines):
            if paid:
                return Applied("applied", external_id, order_id, "nothing left to cancel")
            return Applied("ignored", external_id, order_id, "nothing left to cancel")
        cancel_order(uow, order_id, CancelOrder(reason="cancelled by the channel"), channel=channel)
        return Applied("applied", external_id, order_id)
    lines = _lower_quantities(current, new)
    moved = new.shipping_address != current.shipping_address
    if not lines and not moved:
        said = None if paid else "nothing ordersync changes"
        return Applied("applied", external_id, order_id, said)
    edit = EditOrder(
        shipping_address=AddressIn(**new.shipping_address) if moved else None,
        lines=lines or None,
        reason=CHANNEL_REASON,
    )
    edit_order(uow, order_id, edit, channel=channel)
    return Applied("applied", external_id, order_id)


def _lower_quantities(current: Order, new: Order) -> list[LineQuantity]:
    """The lines the new version asks to lower, paired with ours by SKU in their order (a
    line gone from the channel's order is 0). Units cancelled here stay cancelled: a
    quantity between what is left and what was ordered changes nothing."""
    offered: dict[str, deque[int]] = defaultdict(deque)
    for line in new.lines:
        offered[line.sku].append(line.quantity)
    lowered = []
    for line in current.lines:
        quantity = offered[line.sku].popleft() if offered[line.sku] else 0
        if quantity > line.quantity:
            raise CannotApply(
                f"line {line.line_no} ({line.sku}): the channel now has {quantity}, more than "
                f"the {line.quantity} ordered; a higher quantity cannot be applied"
            )
        if quantity < line.live:
            lowered.append(LineQuantity(line_no=line.line_no, quantity=quantity))
    added = sorted(sku for sku, left in offered.items() if left)
    if added:
        raise CannotApply(f"the channel's order has new lines ({', '.join(added)}): not applied")
    return lowered


def place_cancelled(uow: UnitOfWork, cmd: PlaceOrder, *, channel: str) -> Order:
    """An order first seen cancelled: recorded (order.accepted, for the books) and
    cancelled in the same transaction (order.cancelled), reserving nothing — no
    order.allocated or order.backordered is written, so the WMS hears nothing of it."""
    order = build_order(cmd, channel=channel)
    customer = profile_of(order)
    order.customer_id = customer.id
    with uow:
        skus = sorted({line.sku for line in order.lines})
        known = uow.inventory.lock(skus)
        unknown = [sku for sku in skus if sku not in known]
        if unknown:
            raise UnknownSku(f"unknown SKU(s): {', '.join(unknown)}", skus=unknown)
        uow.changes.record(order, "place", None, {"cancelled": True})
        first = accepted(order)
        cancelled = [amount_line(line, 0, line.quantity) for line in order.lines]
        for line in order.lines:
            line.cancelled = line.quantity
        order.move_to(OrderStatus.CANCELLED)
        order.bump()
        uow.changes.record(
            order, "cancel", OrderStatus.PLACED, {"reason": "cancelled by the channel"}
        )
        added = uow.orders.add(order, customer)
        if added is None:
            raise ConcurrencyConflict()
        uow.emit(first)
        if added.customer_version is not None:
            uow.emit(customer_updated(customer, added.customer_version))
        uow.emit(
            order_event(
                OrderCancelled,
                order,
                whole=True,
                reason="cancelled by the channel",
                lines=cancelled,
            )
        )
        uow.commit()
    return order
