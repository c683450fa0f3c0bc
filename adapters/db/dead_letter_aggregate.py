"""A dead letter's aggregate at its destination: its ledger row, its cursor and the later
messages parked behind it — read for `dlq show`, changed by requeue and purge.

The changes run inside the caller's transaction, after it locked the aggregate's cursor
(adapters.db.cursors.lock_cursor, FOR UPDATE): the consumer takes the same lock before it
applies, parks or dead-letters a message of that aggregate, so a requeue or purge runs
wholly before or wholly after any delivery of it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from adapters.db.consumer_tables import cursors_table as cur
from adapters.db.consumer_tables import dead_letters_table as dl
from outbox.tables import deliveries_table as d


@dataclass(frozen=True, slots=True)
class Aggregate:
    destination: str
    aggregate_type: str
    aggregate_id: str

    def of_cursor(self) -> sa.ColumnElement[bool]:
        return sa.and_(
            cur.c.destination == self.destination,
            cur.c.aggregate_type == self.aggregate_type,
            cur.c.aggregate_id == self.aggregate_id,
        )

    def of_ledger(self) -> sa.ColumnElement[bool]:
        return sa.and_(
            d.c.destination == self.destination,
            d.c.aggregate_type == self.aggregate_type,
            d.c.aggregate_id == self.aggregate_id,
        )


def surroundings(conn: sa.Connection, letter: dict[str, Any]) -> dict[str, Any]:
    """What `dlq show` adds to a dead letter: its ledger row, its cursor's state and how
    many later messages of its aggregate are parked at that destination."""
    agg = Aggregate(letter["destination"], letter["aggregate_type"], letter["aggregate_id"])
    delivery = conn.execute(
        sa.select(
            d.c.status,
            d.c.generation,
            d.c.attempts,
            d.c.last_error,
            d.c.blocked_by,
            d.c.published_at,
            d.c.applied_at,
            d.c.updated_at,
        ).where(d.c.event_id == letter["event_id"], d.c.destination == agg.destination)
    ).first()
    cursor = conn.execute(
        sa.select(cur.c.last_sequence, cur.c.blocked_by, cur.c.updated_at).where(agg.of_cursor())
    ).first()
    parked = conn.execute(
        sa.select(sa.func.count()).where(
            agg.of_ledger(), d.c.status == "parked", d.c.sequence > letter["sequence"]
        )
    ).scalar_one()
    return {
        "delivery": delivery._asdict() if delivery else None,
        "cursor": (
            {**cursor._asdict(), "blocked_by_this": cursor.blocked_by == letter["event_id"]}
            if cursor
            else None
        ),
        "parked_behind": int(parked),
    }


def lock_letters(conn: sa.Connection, ids: list[int]) -> list[Any]:
    """The dead letters of these ids, locked, read after the cursor lock (so as the last
    requeue or purge of their aggregate left them), in sequence order."""
    query = (
        sa.select(
            dl.c.id,
            dl.c.event_id,
            dl.c.sequence,
            dl.c.generation,
            dl.c.requeued_at,
            dl.c.purged_at,
        )
        .where(dl.c.id.in_(ids))
        .order_by(dl.c.sequence, dl.c.id)
        .with_for_update()
    )
    return list(conn.execute(query))


def delivery_status(conn: sa.Connection, event_id: uuid.UUID, destination: str) -> str | None:
    row = conn.execute(
        sa.select(d.c.status).where(d.c.event_id == event_id, d.c.destination == destination)
    ).first()
    return str(row.status) if row else None


def send_again(conn: sa.Connection, event_id: uuid.UUID, destination: str) -> bool:
    """The dead delivery back to the outbox: pending and unpublished, so the relay sends it
    again. Its attempts start afresh (the dead letter keeps the count it died with): the
    poison rule counts failures in a row, and one blip after the fix must not kill it
    again at once. False if it is not dead."""
    result = conn.execute(
        sa.update(d)
        .where(d.c.event_id == event_id, d.c.destination == destination, d.c.status == "dead")
        .values(
            status="pending",
            published_at=None,
            blocked_by=None,
            attempts=0,
            updated_at=sa.func.now(),
        )
    )
    return bool(result.rowcount)


def mark_requeued(conn: sa.Connection, dead_letter_id: int) -> None:
    conn.execute(sa.update(dl).where(dl.c.id == dead_letter_id).values(requeued_at=sa.func.now()))


def mark_purged(conn: sa.Connection, dead_letter_id: int, reason: str) -> None:
    conn.execute(
        sa.update(dl)
        .where(dl.c.id == dead_letter_id)
        .values(purged_at=sa.func.now(), purge_reason=reason)
    )


def set_cursor(
    conn: sa.Connection, agg: Aggregate, *, last_sequence: int, blocked_by: uuid.UUID | None
) -> None:
    conn.execute(
        sa.update(cur)
        .where(agg.of_cursor())
        .values(last_sequence=last_sequence, blocked_by=blocked_by, updated_at=sa.func.now())
    )


def release_parked(conn: sa.Connection, agg: Aggregate, sequence: int) -> bool:
    """The aggregate's delivery of `sequence`, if parked, back to the outbox (as
    close_delivery releases an applied message's successor). The caller wakes the relays."""
    result = conn.execute(
        sa.update(d)
        .where(agg.of_ledger(), d.c.sequence == sequence, d.c.status == "parked")
        .values(status="pending", published_at=None, blocked_by=None, updated_at=sa.func.now())
    )
    return bool(result.rowcount)
