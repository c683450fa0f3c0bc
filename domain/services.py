"""Domain services: each runs one unit of work, so its changes and events commit together."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from domain.allocation import StockLevel, allocate
from domain.b2b import late_delivery
from domain.backorder_fill import fill_backorders, waiting_orders
from domain.commands import MAX_STOCK, AdjustInventory, PlaceOrder
from domain.customers import customer_updated, profile_of
from domain.errors import (
    ConcurrencyConflict,
    DuplicateMismatch,
    InsufficientStock,
    UnknownSku,
    ValidationFailed,
)
from domain.events import (
    BackorderedLine,
    DomainEvent,
    OrderAccepted,
    OrderAllocated,
    OrderBackordered,
    OrderHeld,
)
from domain.holds import screen
from domain.normalize import build_order
from domain.orders import Order, Reservation
from domain.payments import secure_payment
from domain.ports import SkuStock, UnitOfWork
from domain.projection import order_event, project
from domain.sellable import inventory_changed, sellable
from domain.status import OrderStatus

T = TypeVar("T")


def retrying(work: Callable[[], T], attempts: int = 8) -> T:
    """Run `work` again when a concurrent transaction won (deadlock, serialization)."""
    for attempt in range(attempts):
        try:
            return work()
        except ConcurrencyConflict:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def place_order(
    uow: UnitOfWork,
    cmd: PlaceOrder,
    *,
    channel: str,
    idempotency_key: str | None = None,
    fulfilled_by_channel: bool = False,
) -> tuple[Order, bool]:
    """Accept a channel's order and reserve stock for it; (order, created).

    The same order again (same channel and external id, or same Idempotency-Key,
    with the same normalized content) returns the stored one and writes nothing.
    `fulfilled_by_channel` (Amazon FBA): the order is recorded (the ERP and the CRM hear
    of it) but reserves nothing and is not screened: no stock of ours is involved and the
    WMS is never asked to ship it.
    """
    order = build_order(cmd, channel=channel, idempotency_key=idempotency_key)
    order.fulfilled_by_channel = fulfilled_by_channel
    late = late_delivery(order)
    customer = profile_of(order)
    order.customer_id = customer.id
    with uow:
        if late is not None:
            # Refused as a new order; the same order sent again gets the one stored.
            if uow.orders.find_duplicate(order) is None:
                raise late
            return _existing(uow, order), False
        # The rules before the locks: the SKU rows are held one round trip less.
        if not fulfilled_by_channel:
            order.holds = screen(order, uow.hold_rules.for_channel(order.channel))
        skus = sorted({line.sku for line in order.lines})
        stock = uow.inventory.lock(skus)
        unknown = [sku for sku in skus if sku not in stock]
        if unknown:
            raise UnknownSku(f"unknown SKU(s): {', '.join(unknown)}", skus=unknown)
        levels = [level for s in stock.values() for level in s.levels]
        # A held order reserves its stock all the same (allocation_status says on_hold).
        demands = [] if fulfilled_by_channel else order.backorder_demands()
        reservations = order.apply_plan(allocate(demands, levels))
        secure_payment(order)
        # Recorded before the insert, which writes it in its own statement (none if the
        # order is a duplicate).
        uow.changes.record(order, "place", None, {"holds": order.holds} if order.holds else None)
        added = uow.orders.add(order, customer)
        if added is None:
            uow.rollback()
            return _existing(uow, order), False
        changed = reserve_levels(levels, [(r.sku, r.location, r.quantity) for r in reservations])
        uow.inventory.save_levels(changed)
        uow.emit(accepted(order), *_held(order), *allocation_events(order))
        if added.customer_version is not None:
            uow.emit(customer_updated(customer, added.customer_version))
        uow.emit(*stock_events(uow, stock, changed, order.channel))
        uow.commit()
    return order, True


def _held(order: Order) -> list[DomainEvent]:
    return [order_event(OrderHeld, order, reasons=order.holds)] if order.on_hold else []


def _existing(uow: UnitOfWork, order: Order) -> Order:
    existing = uow.orders.find_duplicate(order)
    if existing is None:  # the other writer rolled back after all: try again
        raise ConcurrencyConflict()
    if existing.fingerprint != order.fingerprint:
        same_key = order.idempotency_key and existing.idempotency_key == order.idempotency_key
        what = "Idempotency-Key" if same_key else f"external_id {order.external_id!r}"
        raise DuplicateMismatch(
            f"{what} was already used for an order with different content",
            order_id=str(existing.id),
        )
    return existing


def reserve_levels(
    levels: list[StockLevel], quantities: Iterable[tuple[str, str, int]]
) -> list[StockLevel]:
    """The stock levels after reserving each (sku, location, quantity) — a negative quantity
    releases what a reservation held: only the levels that changed."""
    by_key = {(lv.sku, lv.location): lv for lv in levels}
    changed: dict[tuple[str, str], StockLevel] = {}
    for sku, location, quantity in quantities:
        lv = changed.get((sku, location), by_key[(sku, location)])
        changed[(sku, location)] = dataclasses.replace(lv, reserved=lv.reserved + quantity)
    return list(changed.values())


def accepted(order: Order) -> DomainEvent:
    """order.accepted: the whole canonical order, as its schema names it."""
    return order_event(OrderAccepted, order)


def allocation_events(order: Order, *, reallocated: bool = False) -> list[DomainEvent]:
    """order.allocated with the current reservations, order.backordered with what is short.

    `reallocated`: the reservations changed after the order was placed, so order.allocated
    goes out even when none are left — the WMS must learn to cancel what it was sent.

    A held order gets neither (both reach the WMS, which must hear nothing of it until it
    is released: the release sends them), nor does one its channel fulfils (the WMS never
    ships it)."""
    if order.on_hold or order.fulfilled_by_channel:
        return []
    events = []
    if order.reservations or reallocated:
        events.append(order_event(OrderAllocated, order))
    backordered = backorder_event(order)
    if backordered is not None:
        events.append(backordered)
    return events


def backorder_event(order: Order) -> DomainEvent | None:
    """order.backordered with the lines' quantities short now (None: nothing is short)."""
    short = [
        project(BackorderedLine, ln, quantity=ln.backordered)
        for ln in order.lines
        if ln.backordered
    ]
    return order_event(OrderBackordered, order, lines=short) if short else None


def stock_events(
    uow: UnitOfWork, before: dict[str, SkuStock], changed: list[StockLevel], channel: str | None
) -> list[DomainEvent]:
    """inventory.changed for every SKU whose ATP, or what some channel may sell of it (its
    ATP per location less safety stock), moved, with its new aggregate version."""
    if not changed:
        return []
    channels = uow.active_channels()
    current = {s: {lv.location: lv for lv in before[s].levels} for s in before}
    for lv in changed:
        current[lv.sku][lv.location] = lv

    def has_moved(sku: str) -> bool:
        now, then, safety = list(current[sku].values()), before[sku].levels, before[sku].safety
        if sum(lv.atp for lv in now) != sum(lv.atp for lv in then):
            return True
        # The same ATP: a channel's figure can move only if it has safety stock of the SKU
        # (the ATP moved between locations); without any, every channel's figure is the ATP.
        return bool(safety) and sellable(now, safety, channels) != sellable(then, safety, channels)

    moved = sorted(sku for sku in {lv.sku for lv in changed} if has_moved(sku))
    versions = uow.inventory.bump_versions(moved)
    return [
        inventory_changed(
            sku, current[sku].values(), before[sku].safety, channels, versions[sku], channel
        )
        for sku in moved
    ]


def save_reallocated(
    uow: UnitOfWork, order: Order, previous: OrderStatus, command: str, detail: dict[str, Any]
) -> None:
    """Save a locked order whose reservations changed: one version step, its change-log
    entry, and order.allocated (and order.backordered if still short)."""
    order.bump()
    uow.orders.save(order)
    uow.changes.record(order, command, previous, detail)
    uow.emit(*allocation_events(order, reallocated=True))


def adjust_inventory(uow: UnitOfWork, cmd: AdjustInventory) -> dict[str, SkuStock]:
    """Apply stock adjustments in order, all or nothing; returns the SKUs' stock afterwards.

    A shrink below what is reserved takes the newest reservations back (the order
    line is backordered) and tries to re-allocate them at other locations. Orders
    already part-shipped are no exception: they stay partially fulfilled. Stock that
    rises goes to the SKU's backordered lines, oldest order first (domain/backorder_fill.py).
    """
    pairs = [(a.sku, a.location) for a in cmd.adjustments]
    with uow:
        uow.inventory.ensure(pairs)
        stock = uow.inventory.lock(sorted({sku for sku, _ in pairs}))
        levels = {(lv.sku, lv.location): lv for s in stock.values() for lv in s.levels}
        original = dict(levels)
        for i, a in enumerate(cmd.adjustments):
            lv = levels[(a.sku, a.location)]
            on_hand = a.set_on_hand if a.set_on_hand is not None else lv.on_hand + (a.delta or 0)
            if on_hand > MAX_STOCK:
                raise ValidationFailed(
                    f"adjustment {i} would take {a.sku} at {a.location} above {MAX_STOCK}",
                    errors=[{"field": f"adjustments.{i}", "message": "on_hand is too large"}],
                )
            if on_hand < 0:
                raise InsufficientStock(
                    f"adjustment {i} would take {a.sku} at {a.location} to on_hand {on_hand}",
                    index=i,
                    errors=[{"field": f"adjustments.{i}", "message": "on_hand cannot go below 0"}],
                )
            levels[(a.sku, a.location)] = dataclasses.replace(lv, on_hand=on_hand)
        settle_stock(uow, stock, levels, original, cause="stock adjustment")
        uow.commit()
    return {
        sku: SkuStock(sku, s.version, [levels[(sku, lv.location)] for lv in s.levels])
        for sku, s in stock.items()
    }


def settle_stock(
    uow: UnitOfWork,
    stock: dict[str, SkuStock],
    levels: dict[tuple[str, str], StockLevel],
    original: dict[tuple[str, str], StockLevel],
    *,
    cause: str,
    channel: str | None = None,
) -> list[StockLevel]:
    """Save locked stock levels whose on_hand moved (`levels`, from `original`), and what
    follows from it: a shrink below what is reserved takes the newest reservations back and
    re-allocates them elsewhere, stock that rose fills backorders; each order changed is
    saved with its events, then inventory.changed. Returns the levels that changed."""
    takes = _shrink_plan(uow, levels)
    risen = {key[0] for key, lv in levels.items() if lv.on_hand > original[key].on_hand}
    # Every order the shrink or the fill may change, locked at once in id order (two
    # batches, or the shrink's newest-first order, could close a cycle with a fill's
    # locks). The fill's set is read before the shrink re-allocates: it can only shrink.
    wanted = {stored.order_id for stored, _ in takes} | set(waiting_orders(uow, levels, risen))
    known = {o.id: o for o in uow.orders.lock_many(sorted(wanted))} if wanted else {}
    touched = _shrink(levels, takes, known)
    reallocated = {order.id: order for order, _ in touched}
    filled = fill_backorders(uow, levels, risen, known).filled
    changed = [lv for key, lv in levels.items() if lv != original[key]]
    uow.inventory.save_levels(changed)
    detail = {"cause": cause}
    for order, previous in touched:
        save_reallocated(uow, order, previous, "reallocate", detail)
    for order, previous in filled:
        if order.id not in reallocated:
            save_reallocated(uow, order, previous, "fill", detail)
    uow.emit(*stock_events(uow, stock, changed, channel))
    return changed


def _shrink_plan(
    uow: UnitOfWork, levels: dict[tuple[str, str], StockLevel]
) -> list[tuple[Reservation, int]]:
    """The reservations a shrink takes back where reserved > on_hand, newest first, and how
    much of each. Read unlocked: the SKU rows are locked, and no reservation of them
    changes without that lock."""
    takes = []
    for key in sorted(levels):
        excess = levels[key].reserved - levels[key].on_hand
        if excess <= 0:
            continue
        for stored in uow.inventory.newest_reservations(*key):
            take = min(stored.quantity, excess)
            takes.append((stored, take))
            excess -= take
            if excess == 0:
                break
    return takes


def _shrink(
    levels: dict[tuple[str, str], StockLevel],
    takes: list[tuple[Reservation, int]],
    known: dict[uuid.UUID, Order],
) -> list[tuple[Order, OrderStatus]]:
    """Backorder what `takes` says (the orders are `known`, locked), then re-allocate it.

    Only the SKUs in `levels` are locked, so only their lines are re-allocated. Returns
    each order changed with its status before.
    """
    orders: dict[uuid.UUID, Order] = {}
    before: dict[uuid.UUID, OrderStatus] = {}
    for stored, take in takes:
        order = known.get(stored.order_id)
        if order is None:  # gone meanwhile (nothing deletes orders today)
            continue
        orders.setdefault(order.id, order)
        before.setdefault(order.id, order.status)
        reservation = next(r for r in order.reservations if r.id == stored.id)
        order.release(reservation, take)
        key = (stored.sku, stored.location)
        levels[key] = dataclasses.replace(levels[key], reserved=levels[key].reserved - take)
    skus = {sku for sku, _ in levels}
    for order in orders.values():
        demands = [d for d in order.backorder_demands() if d.sku in skus]
        plan = allocate(demands, [lv for k, lv in levels.items() if k[0] in skus])
        for r in order.apply_plan(plan):
            lv = levels[(r.sku, r.location)]
            levels[(r.sku, r.location)] = dataclasses.replace(lv, reserved=lv.reserved + r.quantity)
    return [(order, before[order_id]) for order_id, order in orders.items()]
