"""The dashboard's counts: orders per channel and state, the outbox lag and the dead letters
per destination, and the destinations an operator can pause or resume.

Each query is bounded by an index or by the size of its table's purpose: the lag reads the
relay's partial index of unpublished rows, the dead letters are poison only (a small table),
the destinations are the registry's and the breakers'. The orders' counts scan `orders` once
(no index holds channel and status; docs/dashboard.md gives the cost measured)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from actors.systems import SYSTEMS
from adapters.db.consumer_tables import dead_letters_table as dl
from adapters.db.consumer_tables import destinations_table as breakers
from adapters.db.registry import active_channel_names
from adapters.db.tables import orders
from outbox.routing import channel_destination
from outbox.tables import deliveries_table as d


def orders_by_channel(conn: sa.Connection) -> dict[str, dict[str, int]]:
    """{channel: {status: orders}}, channels and statuses sorted."""
    query = (
        sa.select(orders.c.channel, orders.c.status, sa.func.count().label("n"))
        .group_by(orders.c.channel, orders.c.status)
        .order_by(orders.c.channel, orders.c.status)
    )
    counts: dict[str, dict[str, int]] = {}
    for row in conn.execute(query):
        counts.setdefault(row.channel, {})[row.status] = row.n
    return counts


def outbox_lag(conn: sa.Connection, now: datetime) -> list[dict[str, Any]]:
    """Per destination with a backlog: unpublished rows and the oldest one's age (seconds)."""
    # `published_at IS NULL` is the predicate of ix_deliveries_unpublished: only the backlog
    # is read, however long the ledger is.
    query = (
        sa.select(
            d.c.destination,
            sa.func.count().label("backlog"),
            sa.func.min(d.c.created_at).label("oldest"),
        )
        .where(d.c.published_at.is_(None))
        .group_by(d.c.destination)
        .order_by(d.c.destination)
    )
    return [
        {
            "destination": row.destination,
            "backlog": row.backlog,
            "oldest_unpublished_s": max(0.0, round((now - row.oldest).total_seconds(), 1)),
        }
        for row in conn.execute(query)
    ]


def dead_letters_by_destination(conn: sa.Connection) -> dict[str, int]:
    """Unresolved dead letters (neither requeued nor purged) per destination."""
    query = (
        sa.select(dl.c.destination, sa.func.count().label("n"))
        .where(dl.c.requeued_at.is_(None), dl.c.purged_at.is_(None))
        .group_by(dl.c.destination)
        .order_by(dl.c.destination)
    )
    return {row.destination: row.n for row in conn.execute(query)}


def destinations(conn: sa.Connection) -> list[dict[str, Any]]:
    """Every system, every active channel and any destination with a breaker row: its
    breaker state (closed when it never tripped) and why."""
    known = {*SYSTEMS, *(channel_destination(n) for n in active_channel_names(conn))}
    rows = {row.name: row for row in conn.execute(sa.select(breakers))}
    return [
        {
            "destination": name,
            "state": rows[name].state if name in rows else "closed",
            "reason": rows[name].reason if name in rows else None,
        }
        for name in sorted(known | set(rows))
    ]
