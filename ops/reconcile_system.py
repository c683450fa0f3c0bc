"""`ordersync reconcile --system NAME`: what ordersync holds against what a downstream system
holds, read through the system's own API (its module's `Reconciliation`), and `--repair`:
a reprocess replay of the system's deliveries of exactly the orders whose documents are
missing or wrong there (the rules: ops/reconcile.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from actors.systems import DownstreamSystem
from adapters.db.reconcile_queries import orders_accepted_since, orders_by_id
from adapters.systems.http import SystemClient
from ops.audit import Refused, audited
from ops.reconcile import (
    DEFAULT_LOOKBACK,
    Comparison,
    compare,
    confirm,
    repair_targets,
    window_start,
)

# (engine, order ids, destination, actor, via) → a summary with .replay_id and .total
Replay = Callable[[sa.Engine, tuple[str, ...], str, str | None, str], Any]


@dataclass(frozen=True, slots=True)
class RepairStarted:
    replay_id: int
    total: int  # deliveries released
    orders: tuple[str, ...]


@dataclass
class SystemReport:
    system: str
    since: datetime
    comparison: Comparison
    repair: RepairStarted | None = None

    @property
    def clean(self) -> bool:
        return self.comparison.clean

    def as_json(self) -> dict[str, Any]:
        c = self.comparison
        return {
            "system": self.system,
            "since": self.since.isoformat(),
            "clean": c.clean,
            "counts": c.counts(),
            "discrepancies": [asdict(d) for d in c.discrepancies],
            "in_flight": [{**asdict(f), "ledger": dict(f.ledger)} for f in c.in_flight],
            "repair": asdict(self.repair) if self.repair else None,
        }


def reprocess(
    engine: sa.Engine, orders: tuple[str, ...], destination: str, actor: str | None, via: str
) -> Any:
    """The outbox replay, reprocess mode, of these orders' deliveries to `destination`;
    Refused when a replay may not start now (one at a time: another is still running)."""
    from ops.replay import ReplayError, ReplayFilter, replay

    flt = ReplayFilter(orders=orders, destinations=(destination,))
    try:
        return replay(engine, mode="reprocess", flt=flt, actor=actor, via=via)
    except ReplayError as error:
        raise Refused(f"the repair's replay was refused: {error}") from None


def reconcile_system(
    engine: sa.Engine,
    system: DownstreamSystem,
    client: SystemClient,
    *,
    since: datetime | None = None,
    repair: bool = False,
    replay: Replay = reprocess,
    actor: str | None = None,
    via: str = "cli",
) -> SystemReport:
    """Compare the orders accepted since `since` (DEFAULT_LOOKBACK ago if None) with what
    the system holds and, with `repair`, replay what it lacks or holds wrong; audited as
    reconcile.system."""
    since = window_start(since) if since else datetime.now(UTC) - DEFAULT_LOOKBACK
    flt = {"system": system.name, "since": since, "repair": repair}
    with audited(engine, "reconcile.system", filter=flt, actor=actor, via=via) as entry:
        rules = system.reconciliation
        if rules is None:
            raise Refused(f"{system.name} has no read API to reconcile with")
        # Ordersync first, then the system: a delivery is marked applied only after the
        # system answered, so what this read saw applied the system already holds. Read the
        # other way round, a document arriving in between would be called missing.
        with engine.connect() as conn:
            before = orders_accepted_since(conn, system.name, since)
        found = list(rules.read(client, since - rules.clock_margin))
        first = compare(before, found, rules)
        suspects = {d.order_id for d in first.discrepancies}
        with engine.connect() as conn:
            after = orders_by_id(conn, system.name, suspects) if suspects else {}
        report = SystemReport(system.name, since, confirm(first, before, after))
        entry.counts = report.comparison.counts()
        targets = repair_targets(report.comparison) if repair else ()
        if targets:
            entry.counts["repaired"] = len(targets)
            summary = replay(engine, targets, system.name, actor, via)
            report.repair = RepairStarted(int(summary.replay_id), int(summary.total), targets)
            entry.counts |= {"replay_id": report.repair.replay_id, "replayed": summary.total}
        return report
