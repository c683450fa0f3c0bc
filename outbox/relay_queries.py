"""The relay's statements: claim unpublished deliveries (with their events), mark them
published or failed. Each runs in the relay's batch transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg.rows import namedtuple_row
from sqlalchemy.dialects import postgresql

from outbox.tables import deliveries_table as d
from outbox.tables import events_table as e


def deliveries_with_events() -> Any:
    """Delivery rows joined to their events: everything a message is built from."""
    return sa.select(
        d.c.id.label("delivery_id"),
        d.c.destination,
        d.c.sequence,
        d.c.generation,
        d.c.created_at,
        e.c.event_id,
        e.c.event_type,
        e.c.event_version,
        e.c.aggregate_type,
        e.c.aggregate_id,
        e.c.aggregate_version,
        e.c.occurred_at,
        e.c.correlation_id,
        e.c.causation_id,
        e.c.traceparent,
        e.c.tracestate,
        e.c.channel,
        # The payload as the database holds it: spliced into the message as it is, not
        # decoded into Python objects and encoded again.
        sa.cast(e.c.payload, sa.Text).label("payload_json"),
    ).select_from(d.join(e, e.c.event_id == d.c.event_id))


_CLAIM_BASE = (
    deliveries_with_events()
    .where(d.c.published_at.is_(None))
    .order_by(d.c.id)
    .limit(sa.bindparam("limit"))
    .with_for_update(of=d, skip_locked=True)
)
# Compiled once to psycopg's text (psycopg prepares it): the partitions are one array
# parameter, not a new IN list each cycle.
_PSYCOPG = postgresql.psycopg.dialect()  # type: ignore[no-untyped-call]
_CLAIM_ALL = str(_CLAIM_BASE.compile(dialect=_PSYCOPG))
_CLAIM_PARTITIONS = str(
    _CLAIM_BASE.where(
        d.c.partition == sa.any_(sa.bindparam("parts", type_=postgresql.ARRAY(sa.SmallInteger)))
    ).compile(dialect=_PSYCOPG)
)


def claim(conn: sa.Connection, partitions: list[int] | None, limit: int) -> Sequence[Any]:
    params: dict[str, Any] = {"limit": limit}
    if partitions is not None:
        params["parts"] = partitions
    # Straight on psycopg, in SQLAlchemy's transaction: SQLAlchemy's result rows were a
    # quarter of the relay's own CPU per message. Named tuples: build() reads attributes.
    sql = _CLAIM_ALL if partitions is None else _CLAIM_PARTITIONS
    driver: psycopg.Connection[Any] = conn.connection.driver_connection  # type: ignore[assignment]
    with driver.cursor(row_factory=namedtuple_row) as cursor:
        rows: list[Any] = cursor.execute(sql, params).fetchall()
        return rows


def mark_published(conn: sa.Connection, ids: list[int]) -> None:
    """One array parameter, whatever the batch size; a delivery the consumer already
    moved on (waiting, parked…) keeps its status."""
    conn.exec_driver_sql(_MARK_PUBLISHED, (ids,))


_MARK_PUBLISHED = """
UPDATE outbox_deliveries
SET published_at = now(), updated_at = now(), last_error = NULL,
    status = CASE WHEN status = 'pending' THEN 'published' ELSE status END
WHERE id = ANY(%s)
"""
MARK_FAILED = (
    sa.update(d)
    .where(d.c.id == sa.bindparam("b_id"))
    .values(last_error=sa.bindparam("b_error"), updated_at=sa.func.now())
)
