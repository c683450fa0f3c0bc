"""Read side of the delivery ledger: where is order X, per downstream system?"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from outbox.tables import deliveries_table as d
from outbox.tables import events_table as e


def deliveries_of(
    conn: sa.Connection, aggregate_type: str, aggregate_id: str
) -> list[dict[str, Any]]:
    """Every delivery of one aggregate's events, by destination then sequence."""
    query = (
        sa.select(
            d.c.destination,
            d.c.sequence,
            d.c.generation,
            d.c.status,
            d.c.attempts,
            d.c.last_error,
            d.c.blocked_by,
            d.c.published_at,
            d.c.applied_at,
            e.c.event_id,
            e.c.event_type,
            e.c.aggregate_version,
            e.c.occurred_at,
        )
        .select_from(d.join(e, e.c.event_id == d.c.event_id))
        # Through the events' aggregate index: the ledger has none of its own (each
        # index costs every relay mark and consumer update).
        .where(e.c.aggregate_type == aggregate_type, e.c.aggregate_id == aggregate_id)
        .order_by(d.c.destination, d.c.sequence)
    )
    rows = []
    for row in conn.execute(query):
        item = row._asdict()
        for key in ("published_at", "applied_at", "occurred_at"):
            item[key] = item[key].isoformat() if item[key] else None
        for key in ("event_id", "blocked_by"):
            item[key] = str(item[key]) if item[key] else None
        rows.append(item)
    return rows
