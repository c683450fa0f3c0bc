"""What `ordersync demo` prints at the end: the intake, the database's summary tables and
what each simulated system received."""

from __future__ import annotations

import json
import urllib.request
from collections import Counter
from typing import Any

import sqlalchemy as sa
from rich.console import Console
from rich.table import Table

from actors.systems import SYSTEMS

SUMMARY = {
    "orders by status": "SELECT status, count(*) AS orders FROM orders GROUP BY status ORDER BY 1",
    "reservations by location": "SELECT location, count(*) AS reservations, sum(quantity) AS units"
    " FROM reservations GROUP BY location ORDER BY 1",
    "outbox events by type": "SELECT event_type, count(*) AS events FROM outbox_events"
    " GROUP BY event_type ORDER BY 1",
    "delivery ledger": "SELECT destination, status, count(*) AS deliveries FROM outbox_deliveries"
    " GROUP BY destination, status ORDER BY 1, 2",
}


def summary(engine: sa.Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        results = {title: conn.execute(sa.text(q)) for title, q in SUMMARY.items()}
        return {title: (list(r.keys()), r.all()) for title, r in results.items()}


def print_simulators(console: Console, sim_url: str) -> None:
    table = Table(title="what the simulated systems received (each document once)")
    for column in ("system", "documents", "by type", "duplicate calls absorbed"):
        table.add_column(column)
    for system in (*SYSTEMS, "channels"):
        with urllib.request.urlopen(f"{sim_url}/_sim/{system}/documents", timeout=5) as reply:
            body = json.load(reply)
        kinds = Counter(d["type"] for d in body["documents"])
        table.add_row(
            system,
            str(body["count"]),
            ", ".join(f"{k}={v}" for k, v in sorted(kinds.items())),
            str(body["duplicates"]),
        )
    console.print(table)


def print_intake(
    console: Console,
    stats: dict[str, Any],
    summary: dict[str, Any],
    orders: int,
    elapsed: float,
) -> None:
    accepted = sum(stats["status"].values())
    console.print(
        f"{accepted} of {orders} orders accepted in {elapsed:.1f}s "
        f"({accepted / elapsed:.0f}/s); {stats['replayed']} repeats answered with the stored order"
    )
    if stats["errors"]:
        console.print(f"[red]errors:[/] {dict(stats['errors'])}")
    for title, (columns, rows) in summary.items():
        table = Table(title=title)
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*(str(v) for v in row))
        console.print(table)
