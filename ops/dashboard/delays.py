"""Delayed orders: accepted but still not allocated after UNALLOCATED_AFTER_SECONDS, or with
a delivery that ends a service-level journey still undelivered past its objective's
threshold; and the money they hold (grand totals per currency, never added across).

The late deliveries come from three branches, each on an index that exists: rows the relay
has not published (ix_deliveries_unpublished), rows waiting, parked or dead
(ix_deliveries_attention), and rows published but not yet applied among the events of the
recent window (ix_outbox_events_created_at; the window keeps that branch to a small slice of
the ledger, and its plan on the index). A row published more than WINDOW ago and never
applied, waiting, parked nor dead is not listed: the actor applies, parks or dead-letters
what it receives within minutes, and a destination that is down makes its rows *waiting*,
so such a row is a message lost after the broker confirmed it (the replay tools' case,
`ordersync outbox replay --status published`).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from adapters.db.tables import orders
from domain.slo import OBJECTIVES, UNALLOCATED_AFTER_SECONDS, Objective
from outbox.tables import deliveries_table as d
from outbox.tables import events_table as e

WINDOW = timedelta(hours=24)
LISTED = 50  # delayed orders and late deliveries shown (the counts and money are exact)
LATE_CAP = 10_000  # late deliveries read to find the orders they delay
# Accepted, and not (wholly) allocated yet: held, backordered, or part-allocated.
UNALLOCATED = ("placed", "on_hold", "backordered", "partially_allocated")
NOT_DELIVERED = ("pending", "published", "waiting", "parked", "dead")
_TIMED = tuple(o for o in OBJECTIVES if o.event_type is not None and o.destination)


def goes_to(
    objective: Objective, destination: sa.ColumnElement[str] = d.c.destination
) -> sa.ColumnElement[bool]:
    """The deliveries to where `objective`'s journey ends (a system, or any channel)."""
    assert objective.destination is not None
    wanted = objective.destination
    if wanted.endswith(":"):
        return destination.startswith(wanted, autoescape=True)
    return destination == wanted


def _overdue(now: datetime, destination: sa.ColumnElement[str]) -> sa.ColumnElement[bool]:
    return sa.or_(
        *(
            sa.and_(
                e.c.event_type == o.event_type,
                goes_to(o, destination),
                e.c.created_at < now - timedelta(seconds=o.threshold_seconds),
            )
            for o in _TIMED
        )
    )


def late_deliveries(conn: sa.Connection, now: datetime) -> list[dict[str, Any]]:
    """Deliveries past their objective's threshold and not delivered, oldest first."""
    events = (e.c.event_type, e.c.aggregate_type, e.c.aggregate_id, e.c.created_at)
    ledger = (d.c.id, d.c.destination, d.c.status, d.c.attempts)
    joined = d.join(e, e.c.event_id == d.c.event_id)
    on_indexes = (
        sa.select(*ledger, *events)
        .select_from(joined)
        .where(branch, _overdue(now, d.c.destination))
        for branch in (d.c.published_at.is_(None), d.c.status.in_(("waiting", "parked", "dead")))
    )
    # Published, not applied: the window's events, each probing the ledger's
    # (event_id, destination) key (LATERAL, fenced by OFFSET 0; see compliance.py for why).
    published = (
        sa.select(*ledger)
        .where(d.c.event_id == e.c.event_id, d.c.status == "published")
        .offset(0)
        .lateral()
    )
    recent = (
        sa.select(*published.c, *events)
        .select_from(e.join(published, sa.true()))
        .where(
            e.c.created_at >= now - WINDOW,
            e.c.event_type.in_([o.event_type for o in _TIMED]),
            _overdue(now, published.c.destination),
        )
    )
    union = sa.union(*on_indexes, recent).subquery()
    query = (
        sa.select(union)
        .where(union.c.status.in_(NOT_DELIVERED))
        .order_by(union.c.created_at, union.c.id)
        .limit(LATE_CAP)
    )
    return [_late(row._asdict(), now) for row in conn.execute(query)]


def _late(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    row["late_s"] = round((now - row["created_at"]).total_seconds(), 1)
    row["order_id"] = order_id_of(row["aggregate_type"], row["aggregate_id"])
    return row


def order_id_of(aggregate_type: str, aggregate_id: str) -> uuid.UUID | None:
    """The order an outbox aggregate is, if it is one (its page can be linked)."""
    if aggregate_type != "order":
        return None
    try:
        return uuid.UUID(aggregate_id)
    except ValueError:  # not an order of ours (synthetic rows, a foreign aggregate)
        return None


def _delayed_where(now: datetime, late_orders: set[uuid.UUID]) -> sa.ColumnElement[bool]:
    unallocated = sa.and_(
        orders.c.status.in_(UNALLOCATED),
        orders.c.created_at < now - timedelta(seconds=UNALLOCATED_AFTER_SECONDS),
    )
    return sa.or_(unallocated, orders.c.id.in_(late_orders)) if late_orders else unallocated


def delayed_orders(conn: sa.Connection, now: datetime) -> dict[str, Any]:
    """The delayed orders (the oldest LISTED), how many in all, the money at risk per
    currency, and the late deliveries (the oldest LISTED). Exact while fewer than LATE_CAP
    deliveries are late (else `late_capped`: the page says "or more")."""
    late = late_deliveries(conn, now)
    late_by_order: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for row in late:
        if row["order_id"] is not None:
            late_by_order.setdefault(row["order_id"], []).append(row)
    where = _delayed_where(now, set(late_by_order))
    grand_total = orders.c.totals["grand_total"].astext.cast(sa.Numeric)
    money = conn.execute(
        sa.select(orders.c.currency, sa.func.count().label("n"), sa.func.sum(grand_total))
        .where(where)
        .group_by(orders.c.currency)
        .order_by(orders.c.currency)
    ).all()
    listed = conn.execute(
        sa.select(
            orders.c.id,
            orders.c.channel,
            orders.c.external_id,
            orders.c.status,
            orders.c.currency,
            orders.c.created_at,
            orders.c.totals["grand_total"].astext.label("grand_total"),
        )
        .where(where)
        .order_by(orders.c.created_at, orders.c.id)
        .limit(LISTED)
    ).all()
    return {
        "count": sum(row.n for row in money),
        "money_at_risk": {row.currency: row[2] for row in money},
        "orders": [_delayed(row._asdict(), now, late_by_order) for row in listed],
        "late_deliveries": late[:LISTED],
        "late_delivery_count": len(late),
        # LATE_CAP read: there may be more, and orders they delay beyond those counted.
        "late_capped": len(late) >= LATE_CAP,
    }


def _delayed(
    row: dict[str, Any], now: datetime, late_by_order: dict[uuid.UUID, list[dict[str, Any]]]
) -> dict[str, Any]:
    late = late_by_order.get(row["id"], [])
    reasons = [f"{x['event_type']} to {x['destination']} {x['status']}" for x in late]
    if row["status"] in UNALLOCATED:
        age = (now - row["created_at"]).total_seconds()
        if age > UNALLOCATED_AFTER_SECONDS:
            reasons.insert(0, f"{row['status']}, not allocated")
    return {**row, "age_s": round((now - row["created_at"]).total_seconds(), 1), "why": reasons}
