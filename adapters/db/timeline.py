"""An order's timeline: each committed change (order_changes) with its cause, the events
it produced (outbox events of the order at that version) and where each one is at every
destination (the delivery ledger)."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from adapters.db.lifecycle_tables import order_changes as c
from outbox.tables import deliveries_table as d
from outbox.tables import events_table as e

_CHANGES = (
    sa.select(
        c.c.at,
        c.c.version,
        c.c.command,
        c.c.caller,
        c.c.correlation_id,
        c.c.status_from,
        c.c.status_to,
        c.c.detail,
    )
    .where(c.c.order_id == sa.bindparam("order_id"))
    .order_by(c.c.id)
)
# Through the events' aggregate index (the ledger has none of its own), in commit order
# within the order (outbox ids are taken in sequence order within a transaction).
_EVENTS = (
    sa.select(
        e.c.aggregate_version,
        e.c.event_id,
        e.c.event_type,
        e.c.occurred_at,
        d.c.destination,
        d.c.status,
        d.c.attempts,
        d.c.generation,
        d.c.published_at,
        d.c.applied_at,
        d.c.last_error,
    )
    .select_from(e.outerjoin(d, d.c.event_id == e.c.event_id))
    .where(e.c.aggregate_type == "order", e.c.aggregate_id == sa.bindparam("aggregate_id"))
    .order_by(e.c.id, d.c.destination)
)


def _events_by_version(conn: sa.Connection, order_id: uuid.UUID) -> dict[int, list[Any]]:
    by_version: dict[int, list[dict[str, Any]]] = {}
    seen: dict[uuid.UUID, dict[str, Any]] = {}
    for row in conn.execute(_EVENTS, {"aggregate_id": str(order_id)}):
        event = seen.get(row.event_id)
        if event is None:
            event = seen[row.event_id] = {
                "event_id": row.event_id,
                "event_type": row.event_type,
                "occurred_at": row.occurred_at,
                "deliveries": [],
            }
            by_version.setdefault(row.aggregate_version, []).append(event)
        if row.destination is not None:
            delivery = {
                "destination": row.destination,
                "status": row.status,
                "attempts": row.attempts,
                "generation": row.generation,
                "published_at": row.published_at,
                "applied_at": row.applied_at,
            }
            if row.last_error:
                delivery["last_error"] = row.last_error
            event["deliveries"].append(delivery)
    return by_version


def timeline(conn: sa.Connection, order_id: uuid.UUID) -> list[dict[str, Any]]:
    """The order's changes in commit order, each with its events and their deliveries."""
    events = _events_by_version(conn, order_id)
    return [
        {**row._asdict(), "events": events.get(row.version, [])}
        for row in conn.execute(_CHANGES, {"order_id": order_id})
    ]
