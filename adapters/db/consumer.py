"""The consumer side's statements: cursors, inbox, ledger updates, dead letters, breakers.

Every function runs inside the caller's transaction (one message = one transaction).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from adapters.db.consumer_tables import (
    cursors_table as cur,
)
from adapters.db.consumer_tables import (
    dead_letters_table,
    destinations_table,
    inbox_table,
)
from outbox.tables import deliveries_table as d
from outbox.tables import events_table as e
from outbox.writer import NOTIFY_CHANNEL


@dataclass(frozen=True, slots=True)
class Cursor:
    last_sequence: int
    blocked_by: uuid.UUID | None


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    status: str
    attempts: int
    coalesce_key: str | None


@dataclass(frozen=True, slots=True)
class Opened:
    """What a message's transaction knows once its aggregate's cursor is locked."""

    cursor: Cursor
    delivery: Delivery | None  # None: no ledger row (not ours, or pruned)
    in_inbox: bool
    breaker: str  # closed, open or paused
    superseded: bool  # a state-like event that a newer one of the same key follows


# Every statement a delivery runs is built once (SQLAlchemy then compiles it once):
# built per call, they were half of a worker's Python time.
_B = sa.bindparam
# Bind names differ from column names: SQLAlchemy reserves those in UPDATE statements.
_CURSOR_IS = sa.and_(
    cur.c.destination == _B("b_destination"),
    cur.c.aggregate_type == _B("b_aggregate_type"),
    cur.c.aggregate_id == _B("b_aggregate_id"),
)
_LOCK_CURSOR = sa.select(cur.c.last_sequence, cur.c.blocked_by).where(_CURSOR_IS).with_for_update()
_BLOCK_CURSOR = (
    sa.update(cur).where(_CURSOR_IS).values(blocked_by=_B("blocked"), updated_at=sa.func.now())
)
_IN_INBOX = sa.select(sa.literal(1)).where(
    inbox_table.c.destination == _B("destination"),
    inbox_table.c.event_id == _B("event_id"),
    inbox_table.c.generation == _B("generation"),
)
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


def _key(destination: str, agg_type: str, agg_id: str) -> dict[str, str]:
    return {"b_destination": destination, "b_aggregate_type": agg_type, "b_aggregate_id": agg_id}


_CREATE_CURSOR = insert(cur).on_conflict_do_nothing()


def lock_cursor(conn: sa.Connection, destination: str, agg_type: str, agg_id: str) -> Cursor:
    """The (destination, aggregate) cursor, created at 0 if new, locked until commit."""
    new = {"destination": destination, "aggregate_type": agg_type, "aggregate_id": agg_id}
    conn.execute(_CREATE_CURSOR, {**new, "last_sequence": 0})
    row = conn.execute(_LOCK_CURSOR, _key(destination, agg_type, agg_id)).one()
    return Cursor(row.last_sequence, row.blocked_by)


def block_cursor(
    conn: sa.Connection, destination: str, agg_type: str, agg_id: str, event_id: uuid.UUID | None
) -> None:
    conn.execute(_BLOCK_CURSOR, {**_key(destination, agg_type, agg_id), "blocked": event_id})


def in_inbox(conn: sa.Connection, destination: str, event_id: uuid.UUID, generation: int) -> bool:
    params = {"destination": destination, "event_id": event_id, "generation": generation}
    return conn.execute(_IN_INBOX, params).first() is not None


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


# -- one message's transaction in two statements ----------------------------------------
#
# A delivery used to cost ten round trips; these two carry the same reads and writes.
# The cursor upsert takes the row lock (ON CONFLICT DO UPDATE waits for, and returns,
# the latest committed cursor); the ledger row, inbox and breaker are read in the same
# statement, under the snapshot taken before any wait. That is safe: inbox rows of
# generation 0 are only ever written with the cursor moved past them, so a stale
# "not in the inbox" is caught by the (fresh) cursor; a replay (generation > 0), which
# leaves the cursor alone, reads the inbox again after the lock (open_delivery).

_OPEN = """
WITH cursor AS (
    INSERT INTO consumer_cursors AS c
        (destination, aggregate_type, aggregate_id, last_sequence, updated_at)
    VALUES (%(destination)s, %(aggregate_type)s, %(aggregate_id)s, 0, now())
    ON CONFLICT (destination, aggregate_type, aggregate_id)
        DO UPDATE SET last_sequence = c.last_sequence
    RETURNING c.last_sequence, c.blocked_by
)
SELECT cursor.last_sequence, cursor.blocked_by,
       d.id, d.status, d.attempts, d.coalesce_key,
       EXISTS (
           SELECT 1 FROM inbox i
           WHERE i.destination = %(destination)s AND i.event_id = %(event_id)s
             AND i.generation = %(generation)s
       ) AS in_inbox,
       coalesce(b.state, 'closed') AS breaker,
       EXISTS (
           SELECT 1 FROM outbox_deliveries n
           WHERE d.coalesce_key IS NOT NULL AND n.destination = d.destination
             AND n.aggregate_type = d.aggregate_type AND n.aggregate_id = d.aggregate_id
             AND n.coalesce_key = d.coalesce_key AND n.sequence > d.sequence
       ) AS superseded
FROM cursor
LEFT JOIN outbox_deliveries d
    ON d.event_id = %(event_id)s AND d.destination = %(destination)s
LEFT JOIN destinations b ON b.name = %(destination)s
"""

_CLOSE = """
WITH inbox_row AS (
    INSERT INTO inbox (destination, event_id, generation, applied_at)
    VALUES (%(destination)s, %(event_id)s, %(generation)s, now())
), ledger AS (
    UPDATE outbox_deliveries
    SET status = %(status)s, blocked_by = NULL, updated_at = now(),
        applied_at = CASE WHEN %(applied)s THEN now() ELSE applied_at END,
        last_error = CASE WHEN %(applied)s THEN NULL ELSE last_error END,
        attempts = attempts + CASE WHEN %(applied)s THEN 1 ELSE 0 END
    WHERE id = %(delivery_id)s
), cursor AS (
    UPDATE consumer_cursors
    SET last_sequence = %(sequence)s, blocked_by = NULL, updated_at = now()
    WHERE %(advance)s AND destination = %(destination)s
      AND aggregate_type = %(aggregate_type)s AND aggregate_id = %(aggregate_id)s
), successor AS (
    UPDATE outbox_deliveries
    SET status = 'pending', published_at = NULL, blocked_by = NULL, updated_at = now()
    WHERE %(advance)s AND destination = %(destination)s
      AND aggregate_type = %(aggregate_type)s AND aggregate_id = %(aggregate_id)s
      AND sequence = %(sequence)s + 1 AND status = 'parked'
    RETURNING 1
), breaker AS (
    UPDATE destinations SET failures = 0 WHERE name = %(destination)s AND failures > 0
)
SELECT pg_notify(%(notify_channel)s, '') FROM successor
"""


def _message_params(envelope: Any) -> dict[str, Any]:
    return {
        "destination": envelope.destination,
        "aggregate_type": envelope.aggregate_type,
        "aggregate_id": envelope.aggregate_id,
        "event_id": envelope.event_id,
        "generation": envelope.generation,
        "sequence": envelope.sequence,
    }


def open_delivery(conn: sa.Connection, envelope: Any) -> Opened:
    """Lock the message's (destination, aggregate) cursor until commit, and read what the
    guard decides on: the ledger row, whether the inbox has it, the breaker."""
    dest = envelope.destination
    found = _driver(conn).execute(_OPEN, _message_params(envelope)).fetchone()
    assert found is not None  # the upsert returns the cursor row, new or not
    (
        last_sequence,
        blocked_by,
        delivery_id,
        status,
        attempts,
        coalesce_key,
        seen,
        breaker,
        superseded,
    ) = found
    if envelope.generation > 0 and not seen:  # see above: replays read it after the lock
        seen = in_inbox(conn, dest, envelope.event_id, envelope.generation)
    return Opened(
        Cursor(last_sequence, blocked_by),
        Delivery(delivery_id, status, attempts, coalesce_key) if delivery_id else None,
        seen,
        breaker,
        superseded,
    )


def close_delivery(conn: sa.Connection, envelope: Any, delivery_id: int, status: str) -> None:
    """The message is done (applied, or superseded by a newer figure): into the inbox, the
    ledger row moved, the destination's failure count reset; unless it is a replay, the
    cursor moves on and the parked successor goes out again through the outbox (the
    relay sends it once this commits)."""
    params = _message_params(envelope)
    params.update(
        delivery_id=delivery_id,
        status=status,
        applied=status == "applied",
        advance=envelope.generation == 0,
        notify_channel=NOTIFY_CHANNEL,
    )
    _driver(conn).execute(_CLOSE, params)


def _driver(conn: sa.Connection) -> Any:
    """The psycopg connection under SQLAlchemy's, in the same transaction: the guard's two
    statements skip SQLAlchemy's execution path (a fifth of a worker's CPU)."""
    return conn.connection.driver_connection


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


def add_dead_letter(
    conn: sa.Connection, envelope: dict[str, Any], error: str, attempts: int
) -> None:
    conn.execute(
        insert(dead_letters_table)
        .values(
            destination=envelope["destination"],
            event_id=uuid.UUID(str(envelope["event_id"])),
            generation=envelope["generation"],
            event_type=envelope["event_type"],
            aggregate_type=envelope["aggregate_type"],
            aggregate_id=envelope["aggregate_id"],
            sequence=envelope["sequence"],
            error=error[:4000],
            attempts=attempts,
            envelope=envelope,
        )
        .on_conflict_do_nothing()
    )


def list_dead_letters(conn: sa.Connection, destination: str | None = None) -> list[dict[str, Any]]:
    t = dead_letters_table
    query = sa.select(
        t.c.id,
        t.c.destination,
        t.c.event_type,
        t.c.aggregate_id,
        t.c.sequence,
        t.c.attempts,
        t.c.error,
        t.c.created_at,
    ).order_by(t.c.id)
    if destination:
        query = query.where(t.c.destination == destination)
    return [row._asdict() for row in conn.execute(query)]


# -- circuit breakers -------------------------------------------------------------------


_BREAKER_STATE = sa.select(destinations_table.c.state).where(
    destinations_table.c.name == _B("destination")
)
_BREAKER_STATE_LOCKED = _BREAKER_STATE.with_for_update(read=True)


def breaker_state(conn: sa.Connection, destination: str) -> str:
    row = conn.execute(_BREAKER_STATE, {"destination": destination}).first()
    return str(row.state) if row else "closed"


def breaker_state_locked(conn: sa.Connection, destination: str) -> str:
    """The breaker's current state, share-locked until commit: a resume (which updates the
    row, then releases what waits) either ran before this read, or waits for this
    transaction and then finds the row it parks. Only on the rare parking path: share
    locks on one hot row from every message would churn multixacts."""
    row = conn.execute(_BREAKER_STATE_LOCKED, {"destination": destination}).first()
    return str(row.state) if row else "closed"


def lock_breaker(conn: sa.Connection, destination: str) -> str:
    """The breaker's state, its row created if new and locked until commit (FOR UPDATE): a
    resume, which closes the breaker and then releases what waits, runs wholly before or
    wholly after the caller. Only on the rare path that parks a message after its retries."""
    t = destinations_table
    stmt = insert(t).values(name=destination, state="closed", failures=0)
    stmt = stmt.on_conflict_do_update(index_elements=[t.c.name], set_={"name": stmt.excluded.name})
    return str(conn.execute(stmt.returning(t.c.state)).scalar_one())


def set_breaker(
    conn: sa.Connection,
    destination: str,
    state: str,
    reason: str | None = None,
    *,
    retry_after_s: float | None = None,
) -> None:
    """Set a destination's breaker; `retry_after_s`: the system asked not to be called
    again before then (its Retry-After), so the probe leaves it alone until then."""
    t = destinations_table
    retry_at = None if retry_after_s is None else _now() + timedelta(seconds=retry_after_s)
    values = {
        "state": state,
        "reason": reason,
        "failures": 0,
        "changed_at": sa.func.now(),
        "retry_at": retry_at,
    }
    stmt = insert(t).values(name=destination, **values)
    conn.execute(stmt.on_conflict_do_update(index_elements=[t.c.name], set_=values))


def count_failure(conn: sa.Connection, destination: str, threshold: int, reason: str) -> str:
    """One more consecutive failure; opens the breaker at `threshold`. Returns the state."""
    t = destinations_table
    stmt = insert(t).values(name=destination, state="closed", failures=1, reason=reason)
    row = conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[t.c.name],
            set_={"failures": t.c.failures + 1, "reason": reason},
        ).returning(t.c.failures, t.c.state)
    ).one()
    if row.state == "closed" and row.failures >= threshold:
        set_breaker(conn, destination, "open", reason)
        return "open"
    return str(row.state)


def _now() -> datetime:
    # One clock for retry_at and the comparisons with it: set_breaker computes it here.
    return datetime.now(UTC)


def destinations_needing_probe(conn: sa.Connection) -> list[str]:
    """Open breakers, but not before the time their system asked for (Retry-After)."""
    t = destinations_table
    due = sa.or_(t.c.retry_at.is_(None), t.c.retry_at <= _now())
    return list(conn.execute(sa.select(t.c.name).where(t.c.state == "open", due)).scalars())


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
            d.c.updated_at < _now() - timedelta(seconds=older_than_s),
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


def list_destinations(conn: sa.Connection) -> list[dict[str, Any]]:
    t = destinations_table
    return [row._asdict() for row in conn.execute(sa.select(t).order_by(t.c.name))]
