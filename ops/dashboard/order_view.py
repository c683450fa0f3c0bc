"""What the dashboard's order page draws: the order, its timeline (the very function behind
GET /v1/orders/{id}/timeline), its dead letters and the trace id of each of its events (the
outbox row's stored W3C traceparent: version-traceid-spanid-flags)."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from adapters.db.dead_letters import DeadLetterFilter, list_dead_letters
from adapters.db.tables import orders
from adapters.db.timeline import timeline
from outbox.tables import events_table as e

DEAD_LETTERS_SHOWN = 100


def trace_id(traceparent: str | None) -> str | None:
    """The trace id of a W3C traceparent (None when there is none, or it is malformed)."""
    parts = (traceparent or "").split("-")
    if len(parts) != 4 or len(parts[1]) != 32 or parts[1] == "0" * 32:
        return None
    return parts[1]


def order_view(conn: sa.Connection, order_id: uuid.UUID) -> dict[str, Any] | None:
    """The order page's data from one snapshot (the caller's REPEATABLE READ transaction);
    None when there is no such order."""
    order = conn.execute(
        sa.select(
            orders.c.id,
            orders.c.channel,
            orders.c.external_id,
            orders.c.status,
            orders.c.currency,
            orders.c.created_at,
            orders.c.totals["grand_total"].astext.label("grand_total"),
        ).where(orders.c.id == order_id)
    ).first()
    if order is None:
        return None
    traces = {
        row.event_id: trace_id(row.traceparent)
        for row in conn.execute(
            sa.select(e.c.event_id, e.c.traceparent).where(
                e.c.aggregate_type == "order", e.c.aggregate_id == str(order_id)
            )
        )
    }
    entries = timeline(conn, order_id)
    for entry in entries:
        for event in entry["events"]:
            event["trace_id"] = traces.get(event["event_id"])
    letters = list_dead_letters(
        conn,
        DeadLetterFilter(aggregate_ids=(str(order_id),), include_resolved=True),
        limit=DEAD_LETTERS_SHOWN,
    )
    return {
        "order": order._asdict(),
        "entries": entries,
        "dead_letters": letters,
        "trace_ids": sorted({t for t in traces.values() if t}),
        "deliveries": sum(len(ev["deliveries"]) for en in entries for ev in en["events"]),
    }
