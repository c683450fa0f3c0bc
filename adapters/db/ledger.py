"""The delivery ledger: one row per outbox event and destination, its state as the
consumer moves it (pending → published → applied, or waiting, parked, superseded, dead),
and the read of one aggregate's rows (where is order X, per downstream system?).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from adapters.db.consumer_tables import destinations_table
from outbox.tables import deliveries_table as d
from outbox.tables import events_table as e
from outbox.writer import NOTIFY_CHANNEL


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    status: str
    attempts: int
    coalesce_key: str | None
    replay_id: int | None = None  # the reprocess replay whose chain it is in, and its place
    replay_step: int | None = None


@dataclass(frozen=True, slots=True)
class DeliveryIdentity:
    """What the ledger knows of a delivery: enough to record it as a dead letter when the
    message itself cannot be read."""

    event_id: uuid.UUID
    destination: str
    generation: int
    event_type: str
    aggregate_type: str
    aggregate_id: str
    sequence: int

    def envelope_fields(self) -> dict[str, Any]:
        return {
            "event_id": str(self.event_id),
            "destination": self.destination,
            "generation": self.generation,
            "event_type": self.event_type,
            "aggregate_type": self.aggregate_type,
            "aggregate_id": self.aggregate_id,
            "sequence": self.sequence,
        }


def delivery_identity(
    conn: sa.Connection, event_id: uuid.UUID, destination: str
) -> DeliveryIdentity | None:
    row = conn.execute(
        sa.select(
            d.c.generation, e.c.event_type, d.c.aggregate_type, d.c.aggregate_id, d.c.sequence
        )
        .join(e, e.c.event_id == d.c.event_id)
        .where(d.c.event_id == event_id, d.c.destination == destination)
    ).first()
    if row is None:
        return None
    return DeliveryIdentity(event_id, destination, *row)


# Statements a delivery runs are built once (SQLAlchemy then compiles each once): built
# per call, they were half of a worker's Python time. Bind names differ from column
# names: SQLAlchemy reserves those in UPDATE statements.
_B = sa.bindparam
_DELIVERY = sa.select(d.c.id, d.c.status, d.c.attempts, d.c.coalesce_key).where(
    d.c.event_id == _B("event_id"), d.c.destination == _B("destination")
)
_SET_STATUS = (
    sa.update(d)
    .where(d.c.id == _B("delivery_id"))
    .values(
        status=_B("b_status"),
        blocked_by=_B("blocked"),
        updated_at=sa.func.now(),
        applied_at=sa.case((_B("applied", sa.Boolean), sa.func.now()), else_=d.c.applied_at),
        last_error=sa.case(
            (_B("applied", sa.Boolean), None),
            else_=sa.func.coalesce(_B("error", sa.Text), d.c.last_error),
        ),
        attempts=d.c.attempts + _B("attempt", sa.Integer),
    )
)


def delivery(conn: sa.Connection, event_id: uuid.UUID, destination: str) -> Delivery | None:
    row = conn.execute(_DELIVERY, {"event_id": event_id, "destination": destination}).first()
    return Delivery(row.id, row.status, row.attempts, row.coalesce_key) if row else None


def set_status(
    conn: sa.Connection,
    delivery_id: int,
    status: str,
    *,
    error: str | None = None,
    blocked_by: uuid.UUID | None = None,
    attempt: bool = False,
) -> None:
    """Move a ledger row; `applied` stamps applied_at and clears the last error."""
    conn.execute(
        _SET_STATUS,
        {
            "delivery_id": delivery_id,
            "b_status": status,
            "blocked": blocked_by,
            "applied": status == "applied",
            "error": error[:2000] if error is not None else None,
            "attempt": 1 if attempt else 0,
        },
    )


def record_failure(conn: sa.Connection, delivery_id: int, error: str) -> int:
    """Count a failed attempt on the ledger (its own short transaction); returns attempts."""
    row = conn.execute(
        sa.update(d)
        .where(d.c.id == delivery_id)
        .values(attempts=d.c.attempts + 1, last_error=error[:2000], updated_at=sa.func.now())
        .returning(d.c.attempts)
    ).first()
    return int(row.attempts) if row else 0


def wake_relays(conn: sa.Connection) -> None:
    """Rows became unpublished again: a relay waiting for NOTIFY (rather than polling) would
    otherwise only find them at its safety poll. Sent whatever the relays' mode: it is
    rare (a released successor, a probe's release), and with relays polling no writer
    notifies, so nothing queues on PostgreSQL's NOTIFY lock behind it."""
    conn.exec_driver_sql("SELECT pg_notify(%s, '')", (NOTIFY_CHANNEL,))


def release_waiting(conn: sa.Connection, destination: str) -> int:
    """Every delivery parked while the destination was down goes out again, through the
    outbox; the consumer's cursors put them back in sequence order."""
    result = conn.execute(
        sa.update(d)
        .where(d.c.destination == destination, d.c.status == "waiting")
        .values(status="pending", published_at=None, updated_at=sa.func.now())
    )
    released = int(result.rowcount or 0)
    if released:
        wake_relays(conn)
    return released


def release_stranded(conn: sa.Connection, older_than_s: float) -> dict[str, int]:
    """A safety net: deliveries `waiting` under a closed breaker (nobody would release them)
    go out again, once they have waited `older_than_s`. Returns how many, per destination."""
    t = destinations_table
    not_closed = sa.select(t.c.name).where(t.c.state != "closed")
    result = conn.execute(
        sa.update(d)
        .where(
            d.c.status == "waiting",
            d.c.destination.not_in(not_closed.scalar_subquery()),
            d.c.updated_at < datetime.now(UTC) - timedelta(seconds=older_than_s),
        )
        .values(status="pending", published_at=None, updated_at=sa.func.now())
        .returning(d.c.destination)
    )
    released: dict[str, int] = {}
    for destination in result.scalars():
        released[destination] = released.get(destination, 0) + 1
    if released:
        wake_relays(conn)
    return released


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
