"""`ordersync reconcile`'s report as rich tables and a summary line (--json prints the
reports' own as_json)."""

from __future__ import annotations

from ops.commands.support import console, print_rows
from ops.reconcile import OVERLAP
from ops.reconcile_channel import ChannelReport
from ops.reconcile_system import SystemReport


def print_system(report: SystemReport) -> None:
    """The discrepancies, what is in flight, the counts and the repair started."""
    c = report.comparison
    if c.discrepancies:
        rows = [
            {
                "kind": d.kind,
                "order": d.order_id,
                "external id": d.external_id,
                "document": d.document,
                "expected": d.expected,
                "found": d.found,
            }
            for d in c.discrepancies
        ]
        print_rows(rows, False, f"{report.system}: discrepancies")
    if c.in_flight:
        flying = [
            {
                "order": f.order_id,
                "external id": f.external_id,
                "why": f.reason,
                "ledger": ", ".join(f"{k}={v}" for k, v in sorted(f.ledger.items())),
            }
            for f in c.in_flight
        ]
        print_rows(flying, False, "in flight (not compared)")
    counts = c.counts()
    found = ", ".join(f"{counts[k]} {k}" for k in ("missing", "amount", "status", "duplicate"))
    console.print(
        f"{report.system}: {counts['checked']} orders accepted since "
        f"{report.since.isoformat()} compared: {found}; {counts['in_flight']} in flight"
    )
    if report.repair is not None:
        console.print(
            f"repair: replay {report.repair.replay_id} released {report.repair.total} "
            f"deliveries of {len(report.repair.orders)} orders to {report.system} (reprocess)"
        )


def print_channel(report: ChannelReport) -> None:
    """What was ingested or could not be (present orders only counted), and the watermark."""
    shown = [r for r in report.results if r.outcome != "present"]
    if shown:
        rows = [
            {
                "outcome": r.outcome,
                "external id": r.external_id,
                "order": r.order_id,
                "updated at": r.updated_at.isoformat(),
                "reason": r.reason,
            }
            for r in shown
        ]
        print_rows(rows, False, f"channel {report.channel}")
    counts = report.counts()
    console.print(
        f"channel {report.channel}: {counts['listed']} orders changed since "
        f"{report.since.isoformat()}: {counts['repaired']} ingested (repaired), "
        f"{counts['updated']} updated, {counts['present']} present, "
        f"{counts['differs']} differ, {counts['rejected']} "
        f"rejected; {report.repaired_in_all} repaired in all; next from "
        f"{report.watermark.isoformat()} (newest seen less {OVERLAP.seconds} s)"
    )
