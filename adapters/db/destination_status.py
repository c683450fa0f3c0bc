"""Each destination's state for `ordersync destination list`: its circuit breaker and its
backlog (ledger rows not final), with the age of its oldest waiting row."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from adapters.db.consumer_tables import destinations_table as b
from outbox.tables import deliveries_table as d

# Not final: still to be applied (or superseded) at the destination.
BACKLOG_STATUSES = ("pending", "published", "waiting", "parked")


def destination_status(conn: sa.Connection, known: Iterable[str]) -> list[dict[str, Any]]:
    """Every destination of `known`, of the breakers' table, and any with a backlog, by
    name: breaker state (closed when it never failed), failures, reason, retry_at, the
    backlog per status and in all, and the oldest waiting row's age in seconds."""
    backlog = conn.execute(
        sa.select(
            d.c.destination,
            d.c.status,
            sa.func.count().label("n"),
            sa.func.min(d.c.created_at).label("oldest"),
        )
        .where(d.c.status.in_(BACKLOG_STATUSES))
        .group_by(d.c.destination, d.c.status)
    ).all()
    breakers = {row.name: row for row in conn.execute(sa.select(b))}
    names = sorted({*known, *breakers, *(row.destination for row in backlog)})
    now = datetime.now(UTC)
    result = {name: _row(name, breakers.get(name)) for name in names}
    for row in backlog:
        entry = result[row.destination]
        entry[row.status] = row.n
        entry["backlog"] += row.n
        if row.status == "waiting":
            entry["oldest_waiting_s"] = round((now - row.oldest).total_seconds(), 1)
    return list(result.values())


def _row(name: str, breaker: Any) -> dict[str, Any]:
    return {
        "destination": name,
        "state": breaker.state if breaker else "closed",
        "failures": breaker.failures if breaker else 0,
        "reason": breaker.reason if breaker else None,
        "retry_at": breaker.retry_at if breaker else None,
        "changed_at": breaker.changed_at if breaker else None,
        "backlog": 0,
        **dict.fromkeys(BACKLOG_STATUSES, 0),
        "oldest_waiting_s": None,
    }
