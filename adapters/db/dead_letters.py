"""Dead letters: the record of poison messages, and the source for requeue (RabbitMQ's own
dead-letter queue expires).

A dead letter is unresolved until an operator requeues it (`requeued_at`) or gives up on
it (`purged_at`, `purge_reason`); a requeued message that dies again is the same row,
unresolved again. Its error class is derived from what was recorded, in one place
(`ERROR_CLASSES`, `error_class`), so listing and filtering cannot disagree.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from adapters.db.consumer_tables import dead_letters_table as t

# What a dead letter's error says about it; the first that matches names it. The texts
# are the actors' own: a downstream system's error ends "(HTTP <status>)", a document
# failing while its system answers says so, an unreadable envelope is recorded with the
# raw message under "raw" (tests produce each through the real code paths).
ERROR_CLASSES: dict[str, str] = {
    "unreadable": "the message's envelope did not validate (a bug, or a relay of another "
    "version); recorded with the raw message",
    "failing": "the system kept failing this one document (5xx, timeouts) while it answered "
    "its health check and took other messages",
    "rejected": "the system refused the document with a 4xx answer, e.g. rejected (HTTP 422): "
    "fix the document's data or the system's set-up, then requeue",
    "handler": "our side could not send it: no handler for its event type there, no such "
    "channel, a payload its schema refuses, a reply without what we need, a bug",
}

error_class = sa.case(
    (t.c.envelope.has_key("raw"), "unreadable"),
    (t.c.error.like("%answered its health check"), "failing"),
    (t.c.error.regexp_match(r"\(HTTP 4[0-9]{2}\)$"), "rejected"),
    else_="handler",
).label("error_class")

state = sa.case(
    (t.c.purged_at.is_not(None), "purged"),
    (t.c.requeued_at.is_not(None), "requeued"),
    else_="unresolved",
).label("state")

_UNRESOLVED = sa.and_(t.c.requeued_at.is_(None), t.c.purged_at.is_(None))


def add_dead_letter(
    conn: sa.Connection, envelope: dict[str, Any], error: str, attempts: int
) -> None:
    """Record a poison message. The same delivery dying again (after a requeue) updates its
    row and makes it unresolved again, so it is listed again."""
    stmt = insert(t).values(
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
    again = {
        "error": stmt.excluded.error,
        "attempts": stmt.excluded.attempts,
        "envelope": stmt.excluded.envelope,
        "requeued_at": None,
        "purged_at": None,
        "purge_reason": None,
    }
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[t.c.destination, t.c.event_id, t.c.generation], set_=again
        )
    )


@dataclass(frozen=True, slots=True)
class DeadLetterFilter:
    """Which dead letters: every given condition holds (an empty one is no condition)."""

    destinations: tuple[str, ...] = ()
    error_classes: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    aggregate_ids: tuple[str, ...] = ()
    include_resolved: bool = False

    def where(self) -> list[sa.ColumnElement[bool]]:
        conditions: list[sa.ColumnElement[bool]] = []
        if self.destinations:
            conditions.append(t.c.destination.in_(self.destinations))
        if self.error_classes:
            conditions.append(error_class.in_(self.error_classes))
        if self.since is not None:
            conditions.append(t.c.created_at >= self.since)
        if self.until is not None:
            conditions.append(t.c.created_at < self.until)
        if self.aggregate_ids:
            conditions.append(t.c.aggregate_id.in_(self.aggregate_ids))
        if not self.include_resolved:
            conditions.append(_UNRESOLVED)
        return conditions


_LISTED = (
    t.c.id,
    t.c.destination,
    t.c.event_type,
    t.c.aggregate_type,
    t.c.aggregate_id,
    t.c.sequence,
    t.c.attempts,
    error_class,
    t.c.error,
    t.c.created_at,
    state,
)


def list_dead_letters(
    conn: sa.Connection, where: DeadLetterFilter | None = None, *, limit: int | None = None
) -> list[dict[str, Any]]:
    """The dead letters that match, oldest first."""
    query = sa.select(*_LISTED).where(*(where or DeadLetterFilter()).where()).order_by(t.c.id)
    if limit is not None:
        query = query.limit(limit)
    return [row._asdict() for row in conn.execute(query)]


def dead_letters_by_id(conn: sa.Connection, ids: list[int]) -> list[dict[str, Any]]:
    """The dead letters of these ids (resolved or not), oldest first; unknown ids are absent."""
    query = sa.select(*_LISTED).where(t.c.id.in_(ids)).order_by(t.c.id)
    return [row._asdict() for row in conn.execute(query)]


def dead_letter(conn: sa.Connection, dead_letter_id: int) -> dict[str, Any] | None:
    """The whole record of one dead letter, with its error class and state."""
    row = conn.execute(sa.select(t, error_class, state).where(t.c.id == dead_letter_id)).first()
    return row._asdict() if row else None
