"""The audit trail: one row per operator action, from the CLI or /ops."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from adapters.db.operations_tables import audit_table as t


def record(
    conn: sa.Connection,
    *,
    actor: str,
    via: str,
    action: str,
    filter: dict[str, Any],
    dry_run: bool,
    counts: dict[str, Any],
    outcome: str,
    detail: str | None = None,
) -> int:
    row = conn.execute(
        sa.insert(t)
        .values(
            actor=actor[:128],
            via=via,
            action=action,
            filter=filter,
            dry_run=dry_run,
            counts=counts,
            outcome=outcome,
            detail=detail[:4000] if detail else None,
        )
        .returning(t.c.id)
    ).one()
    return int(row.id)


def list_audit(
    conn: sa.Connection,
    *,
    action: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """The newest `limit` entries (matching the filters), newest first."""
    query = sa.select(t).order_by(t.c.id.desc()).limit(limit)
    if action:
        query = query.where(t.c.action == action)
    if actor:
        query = query.where(t.c.actor == actor)
    if since:
        query = query.where(t.c.at >= since)
    return [row._asdict() for row in conn.execute(query)]
