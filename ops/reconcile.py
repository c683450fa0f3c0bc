"""Reconciliation's rules, as pure functions: what ordersync holds of each order against what
a downstream system holds of it (the system's own comparison of one order is its module's:
`Reconciliation.compare`), and where a channel's next inbound reconciliation starts.

An order with a delivery to the system not yet applied (pending, published, parked,
waiting, dead) is in flight: the system may rightly lack part of it, so it is reported
apart and not compared. Of the others, the system must hold everything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from adapters.systems.reconciliation import (
    KINDS,
    REPAIRABLE,
    Discrepancy,
    OrderOnRecord,
    Reconciliation,
)

SETTLED = frozenset({"applied", "superseded"})
DEFAULT_LOOKBACK = timedelta(days=7)  # without --since (and, for a channel, a watermark)
# Channels stamp updated_at to the second, so orders changed within one second tie; an
# order can also appear in a channel's list a moment after the time it carries. The next
# run starts this much before the newest updated_at seen: what it sees again is already
# present (one idempotent check each), and nothing in that margin is skipped.
OVERLAP = timedelta(seconds=5)
NOT_APPLIED = "deliveries not applied yet"
CHANGED = "changed while the system was read"


@dataclass(frozen=True, slots=True)
class InFlight:
    order_id: str
    external_id: str
    ledger: Mapping[str, int]  # the unsettled deliveries' statuses and how many of each
    reason: str = NOT_APPLIED


@dataclass
class Comparison:
    checked: int = 0  # orders compared (in flight ones not included)
    discrepancies: list[Discrepancy] = field(default_factory=list)
    in_flight: list[InFlight] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        counts = {kind: 0 for kind in KINDS}
        for d in self.discrepancies:
            counts[d.kind] += 1
        return {"checked": self.checked, **counts, "in_flight": len(self.in_flight)}

    @property
    def clean(self) -> bool:
        return not self.discrepancies


def unsettled(held: OrderOnRecord) -> dict[str, int]:
    """The statuses of the order's deliveries that are not applied yet, counted."""
    statuses: dict[str, int] = {}
    for _, status, _ in held.deliveries:
        if status not in SETTLED:
            statuses[status] = statuses.get(status, 0) + 1
    return statuses


def compare(
    held: Mapping[str, OrderOnRecord], found: Iterable[Any], rules: Reconciliation[Any]
) -> Comparison:
    """Every order of `held` against the documents the system holds (it may hold more
    orders: those are not ours to judge here)."""
    by_order: dict[str, list[Any]] = {}
    for document in found:
        by_order.setdefault(rules.order_of(document), []).append(document)
    result = Comparison()
    for order_id in sorted(held):
        order = held[order_id]
        pending = unsettled(order)
        if pending:
            result.in_flight.append(InFlight(order_id, order.external_id, pending))
            continue
        result.checked += 1
        result.discrepancies += rules.compare(order, by_order.get(order_id, []))
    return result


def confirm(
    first: Comparison, before: Mapping[str, OrderOnRecord], after: Mapping[str, OrderOnRecord]
) -> Comparison:
    """The comparison with only the discrepancies that stand: ordersync's side of their
    order (read again after the ERP was read) did not change meanwhile. An order that did
    change — a delivery applied or replayed, a shipment — raced the read and is in flight;
    the next run compares it."""
    changed = {
        d.order_id for d in first.discrepancies if after.get(d.order_id) != before[d.order_id]
    }
    result = Comparison(first.checked - len(changed), in_flight=list(first.in_flight))
    result.discrepancies = [d for d in first.discrepancies if d.order_id not in changed]
    for order_id in sorted(changed):
        order = after.get(order_id) or before[order_id]
        result.in_flight.append(InFlight(order_id, order.external_id, unsettled(order), CHANGED))
    return result


def repair_targets(comparison: Comparison) -> tuple[str, ...]:
    """The orders whose ERP deliveries a reprocess replay puts right."""
    return tuple(sorted({d.order_id for d in comparison.discrepancies if d.kind in REPAIRABLE}))


EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)


def window_start(since: datetime) -> datetime:
    """A `since` as a comparison starts from: a time without an offset is UTC (as the
    CLI reads one), and nothing is older than 1970 (a since of year 1 means "all of it",
    and the clock margins taken off it must not overflow)."""
    aware = since if since.tzinfo else since.replace(tzinfo=UTC)
    return max(aware, EARLIEST)


def next_watermark(
    stored: datetime | None,
    start: datetime,
    seen: Iterable[datetime],
    *,
    now: datetime,
    unsettled: Iterable[datetime] = (),
) -> datetime:
    """Where the channel's next reconciliation starts, after one that looked from `start`
    at `now` and saw orders updated at `seen`: OVERLAP before the newest, never before
    `start`, and never back from the stored watermark. Two bounds keep it from skipping
    orders: it stays before `now` less OVERLAP (one order stamped ahead by a channel's
    clock would carry it into the future, past every order lost after), and before the
    oldest `unsettled` order (listed but refused or different: the next run looks at it
    again, once its cause is fixed). A run that started after the stored watermark (an
    operator's later --since) did not look at the time in between, so the stored one
    stays."""
    if stored is not None and start > stored:
        return stored
    newest = max(seen, default=None)
    reached = start if newest is None else max(start, newest - OVERLAP)
    reached = min(reached, max(start, now - OVERLAP))
    oldest_unsettled = min(unsettled, default=None)
    if oldest_unsettled is not None:
        reached = min(reached, max(start, oldest_unsettled - OVERLAP))
    return reached if stored is None else max(stored, reached)
