"""The outbox backlog per destination: what `ordersync outbox stats` prints."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from outbox.tables import deliveries_table as d


def backlog(conn: sa.Connection) -> list[dict[str, Any]]:
    """Per destination: deliveries by status, unpublished count and the oldest unpublished age."""
    query = (
        sa.select(
            d.c.destination,
            d.c.status,
            sa.func.count().label("n"),
            sa.func.min(sa.case((d.c.published_at.is_(None), d.c.created_at))).label("oldest"),
            sa.func.sum(sa.case((d.c.published_at.is_(None), 1), else_=0)).label("unpublished"),
        )
        .group_by(d.c.destination, d.c.status)
        .order_by(d.c.destination)
    )
    now = datetime.now(UTC)
    result: dict[str, dict[str, Any]] = {}
    for row in conn.execute(query):
        entry = result.setdefault(
            row.destination,
            {
                "destination": row.destination,
                "total": 0,
                "unpublished": 0,
                "oldest_unpublished_s": None,
                "by_status": {},
            },
        )
        entry["total"] += row.n
        entry["unpublished"] += int(row.unpublished or 0)
        entry["by_status"][row.status] = row.n
        if row.oldest is not None:
            age = round((now - row.oldest).total_seconds(), 1)
            previous = entry["oldest_unpublished_s"]
            entry["oldest_unpublished_s"] = age if previous is None else max(previous, age)
    return list(result.values())


def relays(conn: sa.Connection) -> list[dict[str, Any]]:
    """Which relay (connection name and pid) holds which partitions."""
    from outbox.leases import HOLDERS

    return [
        {"relay": row.application_name, "pid": row.pid, "partitions": list(row.partitions)}
        for row in conn.execute(sa.text(HOLDERS))
    ]
