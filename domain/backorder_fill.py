"""Backorder fill: stock that arrives goes to the backordered lines that wait for it,
oldest order first (placed_at, then id), from any location (domain/allocation.py).

Pure over the caller's locks: the caller holds the SKUs' stock rows (so no other writer
can change those SKUs' lines or reservations meanwhile) and gets back each order it must
save. Orders are locked after the stock rows, in one batch in id order: a caller that
changes other orders too (a stock shrink) locks them with the fill's (`waiting_orders`)
in the same batch, so no two writers hold each other's orders.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from domain.allocation import StockLevel, allocate
from domain.orders import Order
from domain.ports import Backorder, UnitOfWork
from domain.status import OrderStatus

Levels = dict[tuple[str, str], StockLevel]


@dataclass
class Fill:
    """What a fill did: each order given stock with its status before (oldest first), and
    every order it locked (those, and the caller's `also`)."""

    filled: list[tuple[Order, OrderStatus]] = field(default_factory=list)
    locked: dict[uuid.UUID, Order] = field(default_factory=dict)


def fill_backorders(
    uow: UnitOfWork,
    levels: Levels,
    skus: Collection[str],
    known: Mapping[uuid.UUID, Order] | None = None,
    *,
    also: Collection[uuid.UUID] = (),
) -> Fill:
    """Allocate the ATP of `skus` in `levels` (updated in place) to their backordered lines.
    `known`: orders this transaction already holds locked and may have changed (used
    instead of a fresh read); `also`: orders the caller needs locked too, taken with the
    fill's in the same id order (so the caller's own lock cannot close a cycle)."""
    known = known or {}
    wanted_skus = set(skus)
    waiting = waiting_orders(uow, levels, skus)
    wanted = (set(waiting) | set(also)) - set(known)
    result = Fill(locked={o.id: o for o in uow.orders.lock_many(sorted(wanted))} if wanted else {})
    for order_id in waiting:  # oldest first
        order = known.get(order_id) or result.locked.get(order_id)
        if order is None:  # deleted meanwhile (nothing deletes orders today)
            continue
        demands = [d for d in order.backorder_demands() if d.sku in wanted_skus]
        plan = allocate(demands, [lv for key, lv in levels.items() if key[0] in wanted_skus])
        if not plan.allocations:
            continue
        before = order.status
        for r in order.apply_plan(plan):
            lv = levels[(r.sku, r.location)]
            levels[(r.sku, r.location)] = dataclasses.replace(lv, reserved=lv.reserved + r.quantity)
        result.filled.append((order, before))
    return result


def _atp(levels: Levels, skus: Collection[str]) -> dict[str, int]:
    """Each SKU's ATP over its locations."""
    atp = {sku: 0 for sku in skus}
    for (sku, _), level in levels.items():
        if sku in atp:
            atp[sku] += level.atp
    return atp


def waiting_orders(uow: UnitOfWork, levels: Levels, skus: Collection[str]) -> list[uuid.UUID]:
    """The orders, oldest first, that the ATP of `skus` in `levels` would give something
    to: the ones a fill locks (a caller that must lock more takes them all at once)."""
    return _served(uow.orders.backorders(sorted(skus)), _atp(levels, skus)) if skus else []


def _served(backorders: list[Backorder], atp: dict[str, int]) -> list[uuid.UUID]:
    """The orders, oldest first, that the ATP can give something to: only those are locked
    and loaded (a long backorder queue costs one cheap read, not a lock per order)."""
    left = dict(atp)
    served: dict[uuid.UUID, None] = {}
    for line in backorders:
        if left.get(line.sku, 0) > 0:
            left[line.sku] -= min(left[line.sku], line.quantity)
            served[line.order_id] = None
    return list(served)
