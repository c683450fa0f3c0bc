"""Consumer cursors and the inbox: each message applied once, and in order.

A cursor row per (destination, aggregate) holds the last applied sequence and is locked
FOR UPDATE while a message of that aggregate is applied; `blocked_by` names the dead
(poison) event that holds the aggregate's later messages at that destination. The inbox
has a row per applied (destination, event_id, generation). Every function runs inside
the caller's transaction (one message = one transaction).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from adapters.db.consumer_tables import cursors_table as cur
from adapters.db.consumer_tables import inbox_table


@dataclass(frozen=True, slots=True)
class Cursor:
    last_sequence: int
    blocked_by: uuid.UUID | None
    # A reprocess replay's hold (adapters.db.replays): its chain of replay_steps goes
    # first, replay_step of them applied so far.
    replay_id: int | None = None
    replay_step: int = 0
    replay_steps: int = 0


# Statements a delivery runs are built once (SQLAlchemy then compiles each once): built
# per call, they were half of a worker's Python time. Bind names differ from column
# names: SQLAlchemy reserves those in UPDATE statements.
_B = sa.bindparam
_CURSOR_IS = sa.and_(
    cur.c.destination == _B("b_destination"),
    cur.c.aggregate_type == _B("b_aggregate_type"),
    cur.c.aggregate_id == _B("b_aggregate_id"),
)
_LOCK_CURSOR = (
    sa.select(
        cur.c.last_sequence,
        cur.c.blocked_by,
        cur.c.replay_id,
        cur.c.replay_step,
        cur.c.replay_steps,
    )
    .where(_CURSOR_IS)
    .with_for_update()
)
_BLOCK_CURSOR = (
    sa.update(cur).where(_CURSOR_IS).values(blocked_by=_B("blocked"), updated_at=sa.func.now())
)
_IN_INBOX = sa.select(sa.literal(1)).where(
    inbox_table.c.destination == _B("destination"),
    inbox_table.c.event_id == _B("event_id"),
    inbox_table.c.generation == _B("generation"),
)
_CREATE_CURSOR = insert(cur).on_conflict_do_nothing()


def _key(destination: str, agg_type: str, agg_id: str) -> dict[str, str]:
    return {"b_destination": destination, "b_aggregate_type": agg_type, "b_aggregate_id": agg_id}


def lock_cursor(conn: sa.Connection, destination: str, agg_type: str, agg_id: str) -> Cursor:
    """The (destination, aggregate) cursor, created at 0 if new, locked until commit."""
    new = {"destination": destination, "aggregate_type": agg_type, "aggregate_id": agg_id}
    conn.execute(_CREATE_CURSOR, {**new, "last_sequence": 0})
    row = conn.execute(_LOCK_CURSOR, _key(destination, agg_type, agg_id)).one()
    return Cursor(*row)


def block_cursor(
    conn: sa.Connection, destination: str, agg_type: str, agg_id: str, event_id: uuid.UUID | None
) -> None:
    conn.execute(_BLOCK_CURSOR, {**_key(destination, agg_type, agg_id), "blocked": event_id})


def in_inbox(conn: sa.Connection, destination: str, event_id: uuid.UUID, generation: int) -> bool:
    params = {"destination": destination, "event_id": event_id, "generation": generation}
    return conn.execute(_IN_INBOX, params).first() is not None
