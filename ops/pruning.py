"""One prune: outbox events (with their ledger and inbox rows), resolved dead letters,
audit rows and the raw bodies of applied inbound deliveries, each kind past its own age,
in batches of one short transaction each (adapters.db.retention). Audited as
`outbox.prune`; refused, before anything is deleted, when the outbox's age is shorter than
the dedup window."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from adapters.db import retention
from ops.ages import age_text
from ops.audit import Refused, audited

DEFAULT_BATCH = 1_000
# Past a few thousand events a batch the planner may trade the ledger's index for a scan of
# the whole table (measured: 10,000 events did on 800,000 ledger rows; 5,000 did not).
MAX_BATCH = 2_000

# kind → its batch step, and the table whose rows a batch is counted in (at most --batch).
_KINDS: dict[str, tuple[retention.BatchStep, str]] = {
    "outbox": (retention.outbox_batch, "outbox_events"),
    "dead_letters": (retention.dead_letters_batch, "dead_letters"),
    "audit": (retention.audit_batch, "audit_log"),
    "raw_payloads": (retention.raw_payloads_batch, "inbound_deliveries"),
}


@dataclass(frozen=True)
class Ages:
    """How old a row must be to go, per kind; None leaves that kind alone."""

    outbox: timedelta | None = None
    dead_letters: timedelta | None = None
    audit: timedelta | None = None
    # How the operator gave the outbox's age ({} is the age), so that a refusal names it.
    outbox_named: str = "--older-than {}"
    # The raw bodies of inbound deliveries applied (stale, ignored) longer ago than this.
    raw_payloads: timedelta | None = None


@dataclass
class Report:
    dry_run: bool
    cutoffs: dict[str, datetime] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(retention.PRUNED_TABLES, 0))
    batches: dict[str, int] = field(default_factory=dict)
    largest_batch: dict[str, int] = field(default_factory=dict)
    interrupted: bool = False
    vacuumed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "cutoffs": {k: v.isoformat() for k, v in self.cutoffs.items()},
            "rows": self.rows,
            "batches": self.batches,
            "largest_batch": self.largest_batch,
            "interrupted": self.interrupted,
            "vacuumed": self.vacuumed,
        }


def refuse_short_window(ages: Ages, dedup_window: timedelta) -> None:
    if ages.outbox is not None and ages.outbox < dedup_window:
        window = age_text(dedup_window)
        raise Refused(
            f"{ages.outbox_named.format(age_text(ages.outbox))} is shorter than the dedup window "
            f"(ORDERSYNC_DEDUP_WINDOW={window}): ledger and inbox rows younger than that may "
            "still be what recognises a copy of a message on its way (a retry, a redelivery, "
            f"a replay). Nothing was deleted: prune with an age of {window} or more, or lower "
            "ORDERSYNC_DEDUP_WINDOW if no copy of a message lives that long here"
        )


def prune(
    engine: sa.Engine,
    ages: Ages,
    *,
    dedup_window: timedelta,
    batch: int = DEFAULT_BATCH,
    dry_run: bool = False,
    stop: threading.Event | None = None,
    command: str = "outbox prune",
) -> Report:
    """Every kind with an age, oldest rows first; `stop` set ends it between two batches."""
    if not 1 <= batch <= MAX_BATCH:
        raise ValueError(f"batch must be 1 to {MAX_BATCH}, not {batch}")
    asked = {f"{kind}_older_than": getattr(ages, kind) for kind in _KINDS}
    audit_filter = {
        "command": command,
        **{k: age_text(v) for k, v in asked.items() if v is not None},
        "dedup_window": age_text(dedup_window),
        "batch": batch,
    }
    with audited(engine, "outbox.prune", filter=audit_filter, dry_run=dry_run) as entry:
        refuse_short_window(ages, dedup_window)
        report = Report(dry_run)
        try:
            with engine.connect() as conn:  # the database's clock: created_at is its now()
                now = conn.execute(sa.select(sa.func.now())).scalar_one()
            for kind, (step, counted) in _KINDS.items():
                age = getattr(ages, kind)
                if age is None or report.interrupted:
                    continue
                report.cutoffs[kind] = now - age
                _walk(engine, report, kind, step, counted, batch, stop)
            if not dry_run and not report.interrupted:
                report.vacuumed = [t for t, n in report.rows.items() if n]
                retention.vacuum(engine, report.vacuumed)
        finally:  # a prune that fails halfway is audited with the batches it committed
            entry.counts = {**report.rows, "batches": sum(report.batches.values())}
            if report.interrupted:
                entry.detail = "stopped between batches (a signal); the rest is left for later"
    return report


def _walk(
    engine: sa.Engine,
    report: Report,
    kind: str,
    step: retention.BatchStep,
    counted: str,
    batch: int,
    stop: threading.Event | None,
) -> None:
    """One kind's batches, each its own transaction, until its walk reaches the cutoff."""
    position: retention.Position | None = retention.START
    report.batches[kind], report.largest_batch[kind] = 0, 0
    while position is not None:
        if stop is not None and stop.is_set():
            report.interrupted = True
            return
        with engine.begin() as conn:
            done = step(conn, report.cutoffs[kind], position, batch, report.dry_run)
        for table, n in done.rows.items():
            report.rows[table] += n
        if done.rows[counted]:
            report.batches[kind] += 1
            report.largest_batch[kind] = max(report.largest_batch[kind], done.rows[counted])
        position = done.next


def report_lines(report: Report, ages: Ages) -> list[str]:
    """One line per kind pruned, for the log and the terminal."""
    verb = "would delete" if report.dry_run else "deleted"
    rows, lines = report.rows, []
    for kind, age in (
        ("outbox", ages.outbox),
        ("dead_letters", ages.dead_letters),
        ("audit", ages.audit),
        ("raw_payloads", ages.raw_payloads),
    ):
        if kind not in report.cutoffs or age is None:
            continue
        what = {
            "outbox": f"{rows['outbox_events']:,} events, {rows['outbox_deliveries']:,} ledger "
            f"rows and {rows['inbox']:,} inbox rows older than {age_text(age)}",
            "dead_letters": f"{rows['dead_letters']:,} dead letters resolved more than "
            f"{age_text(age)} ago",
            "audit": f"{rows['audit_log']:,} audit rows older than {age_text(age)}",
            "raw_payloads": f"the raw bodies of {rows['inbound_deliveries']:,} inbound "
            f"deliveries applied more than {age_text(age)} ago",
        }[kind]
        batches = report.batches.get(kind, 0)
        lines.append(
            f"{kind.replace('_', ' ')} prune: {verb} {what}, "
            f"in {batches} batch{'' if batches == 1 else 'es'}"
        )
    if report.interrupted:
        lines.append("stopped between batches; the rest is left for the next prune")
    return lines
