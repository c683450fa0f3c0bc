"""SLO compliance from the database, per objective, over the recent window: of the journeys
that started in it (an outbox row of the objective's event was written), how many ended
within the threshold (the delivery's applied_at, set by the actor in the transaction that
applied it, minus the outbox row's created_at), how many late, and how many are still
undelivered past it. Order acknowledgment (request → 201) leaves no row to time: it is
measured by the API's own histogram (/metrics), and the dashboard says so."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from domain.slo import OBJECTIVES, Objective
from ops.dashboard.delays import goes_to
from outbox.tables import deliveries_table as d
from outbox.tables import events_table as e

WINDOW = timedelta(hours=24)


def compliance(conn: sa.Connection, now: datetime) -> list[dict[str, Any]]:
    """One entry per objective: met, late, overdue, the share met (None: no journey to
    count) and whether it reaches the target."""
    return [_objective(conn, o, now) for o in OBJECTIVES]


def _objective(conn: sa.Connection, objective: Objective, now: datetime) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": objective.name,
        "title": objective.title,
        "threshold_s": objective.threshold_seconds,
        "target": objective.target,
        "measured": objective.event_type is not None,
        "met": 0,
        "late": 0,
        "overdue": 0,
        "share": None,
        "ok": None,
    }
    if objective.event_type is None:
        return entry
    threshold = timedelta(seconds=objective.threshold_seconds)
    started = (
        sa.select(e.c.event_id, e.c.created_at)
        .where(e.c.created_at >= now - WINDOW, e.c.event_type == objective.event_type)
        .subquery()
    )
    # LATERAL: one probe of the ledger's (event_id, destination) key per event of the
    # window, found on ix_outbox_events_created_at; joined plainly, the planner reads the
    # whole ledger once the window holds a few thousand events (bench/dashboard.py). The
    # OFFSET 0 keeps it from pulling the subquery up into that plain join.
    ended = (
        sa.select(d.c.applied_at)
        .where(
            d.c.event_id == started.c.event_id,
            # Superseded rows never end a journey: the newer state that replaced them does.
            d.c.status != "superseded",
            goes_to(objective),
        )
        .offset(0)
        .lateral()
    )
    took = ended.c.applied_at - started.c.created_at
    applied = ended.c.applied_at.is_not(None)
    row = conn.execute(
        sa.select(
            sa.func.count().filter(applied, took <= threshold).label("met"),
            sa.func.count().filter(applied, took > threshold).label("late"),
            sa.func.count()
            .filter(ended.c.applied_at.is_(None), started.c.created_at < now - threshold)
            .label("overdue"),
        ).select_from(started.join(ended, sa.true()))
    ).one()
    entry.update(met=row.met, late=row.late, overdue=row.overdue)
    counted = row.met + row.late + row.overdue
    if counted:
        entry["share"] = row.met / counted
        entry["ok"] = entry["share"] >= objective.target
    return entry
