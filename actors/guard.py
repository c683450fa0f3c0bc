"""Applying one message at its destination: once, in order, outages parked.

Every actor runs its handler through `deliver()`. In one transaction it:

1. locks the (destination, aggregate) cursor row, so two copies of a message, or two
   messages of one aggregate, are applied one after the other;
2. drops a duplicate (already in the inbox, or behind the cursor);
3. parks a message that is ahead of its cursor, or behind a dead (poison) one: the
   ledger says `parked`, the message is acknowledged, no retry is spent waiting;
4. parks a message whose destination is down (breaker open or paused) as `waiting`;
5. calls the handler (the external system, with an Idempotency-Key derived from
   the message), then writes the inbox row, moves the cursor, marks the ledger row
   applied and releases the parked successor through the outbox (the relay sends
   it again once this commits).

Steps 1–4 are one locking read and step 5's writes one statement
(adapters.db.delivery_transaction: open_delivery / close_delivery).

The cursor row stays locked across the external call; the client's timeout bounds
that. A transient failure rolls the transaction back and is counted in a short
transaction of its own; the caller (actors.registry) retries it a few times, then parks
it as waiting for its destination, or dead-letters it when the destination is up and
takes other messages. A permanent failure is a dead letter and blocks the aggregate's
later messages at that destination only.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from actors.middleware import phase, timed
from adapters.db import breakers, cursors, dead_letters, delivery_transaction, ledger
from adapters.systems.errors import PermanentError
from outbox.envelope import Envelope

Handler = Callable[[Envelope], object]


class Outcome(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    PARKED = "parked"
    WAITING = "waiting"
    SUPERSEDED = "superseded"
    DEAD = "dead"
    UNKNOWN = "unknown"  # no ledger row: not ours (e.g. pruned); acknowledged


@timed("guard")  # a span of the delivery's report (actors.middleware), when one is kept
def deliver(engine: sa.Engine, envelope: Envelope, handler: Handler) -> Outcome:
    dest = envelope.destination
    with engine.connect() as conn, conn.begin():
        opened = delivery_transaction.open_delivery(conn, envelope)
        cursor, row = opened.cursor, opened.delivery
        if row is None:
            return Outcome.UNKNOWN
        if opened.in_inbox:
            return Outcome.DUPLICATE
        replay = envelope.generation > 0  # a reprocess: applied again, cursor untouched
        if (
            # A dead letter delivered again stays dead, a purged one too, whatever its
            # generation (the cursor, read fresh, names it even when the ledger row was
            # read before its first copy died).
            row.status == "dead"
            or cursor.blocked_by == envelope.event_id
            or (not replay and envelope.sequence <= cursor.last_sequence)
        ):
            return Outcome.DUPLICATE
        if cursor.blocked_by is not None or (
            not replay and envelope.sequence > cursor.last_sequence + 1
        ):
            ledger.set_status(conn, row.id, "parked", blocked_by=cursor.blocked_by)
            return Outcome.PARKED
        # A reprocess replay holds the aggregate: its chain goes in step order, and the
        # aggregate's own next message waits until the chain is through.
        chained = delivery_transaction.in_chain(opened, envelope)
        early_step = chained and row.replay_step != cursor.replay_step + 1
        if early_step or (not replay and cursor.replay_id is not None):
            ledger.set_status(conn, row.id, "parked")
            return Outcome.PARKED
        # The breaker as the locking read saw it may be older than the cursor lock; parking
        # on it needs it current (else a resume that ran meanwhile would miss this row).
        if opened.breaker != "closed" and breakers.breaker_state_locked(conn, dest) != "closed":
            ledger.set_status(conn, row.id, "waiting")
            return Outcome.WAITING

        if opened.superseded:
            outcome = Outcome.SUPERSEDED  # a newer figure follows: skip the call
        else:
            try:
                with phase("handler"):
                    handler(envelope)
            except PermanentError as error:
                _dead(conn, envelope, row, str(error))
                return Outcome.DEAD
            outcome = Outcome.APPLIED
        delivery_transaction.close_delivery(conn, opened, envelope, outcome.value)
        return outcome


def _dead(conn: sa.Connection, envelope: Envelope, row: Any, error: str) -> None:
    """Record a poison message and hold its aggregate's later messages behind it."""
    data = envelope.model_dump(mode="json")
    dead_letters.add_dead_letter(conn, data, error, row.attempts + 1)
    ledger.set_status(conn, row.id, "dead", error=error, attempt=True)
    cursors.block_cursor(
        conn,
        envelope.destination,
        envelope.aggregate_type,
        envelope.aggregate_id,
        envelope.event_id,
    )


def record_transient_failure(
    engine: sa.Engine, envelope: Envelope, error: str, *, breaker_threshold: int
) -> tuple[int, str]:
    """Count a failed attempt and a consecutive failure of the destination, in a
    transaction of their own (the message's transaction rolled back). Returns the
    delivery's attempts and the breaker's state."""
    with engine.connect() as conn, conn.begin():
        # The destination's row first, then the delivery's: park_waiting's order, so two
        # copies of one message cannot deadlock between the two.
        state = breakers.count_failure(conn, envelope.destination, breaker_threshold, error)
        row = ledger.delivery(conn, envelope.event_id, envelope.destination)
        attempts = ledger.record_failure(conn, row.id, error) if row else 0
    return attempts, state


def park_waiting(
    engine: sa.Engine, envelope: Envelope, reason: str, *, retry_after_s: float | None = None
) -> None:
    """Retries are spent: the message waits in the database until the destination is back,
    and the destination's breaker opens (so the health probe will release it, not before
    `retry_after_s` when the system named a time).

    The breaker row is locked first. A resume closes the breaker (under the same lock) and
    then releases what waits: either it ran before, and the breaker read here is closed, so
    this opens it again and the probe will look; or it waits for this transaction and then
    finds the row parked here. Read without the lock, the resume could close the breaker
    and miss the uncommitted row: waiting under a closed breaker that nobody visits."""
    with engine.connect() as conn, conn.begin():
        state = breakers.lock_breaker(conn, envelope.destination)
        row = ledger.delivery(conn, envelope.event_id, envelope.destination)
        if row is not None and row.status not in ("applied", "dead", "superseded"):
            ledger.set_status(conn, row.id, "waiting", error=reason)
        if state == "closed":
            breakers.set_breaker(
                conn, envelope.destination, "open", reason, retry_after_s=retry_after_s
            )


def record_attempt(engine: sa.Engine, envelope: Envelope, error: str) -> int:
    """Count a failed attempt that is not the destination's fault (a bug, a bad document)."""
    with engine.connect() as conn, conn.begin():
        row = ledger.delivery(conn, envelope.event_id, envelope.destination)
        return ledger.record_failure(conn, row.id, error) if row else 0


def dead_letter(engine: sa.Engine, envelope: Envelope, error: str) -> Outcome:
    """Its retries spent on an error that is not an outage: a dead letter (poison) — unless,
    under the cursor lock, another copy turns out to have settled it meanwhile (applied,
    superseded or dead), which the guard's own checks would have seen too."""
    with engine.connect() as conn, conn.begin():
        cursor = cursors.lock_cursor(
            conn, envelope.destination, envelope.aggregate_type, envelope.aggregate_id
        )
        row = ledger.delivery(conn, envelope.event_id, envelope.destination)
        if row is None:
            return Outcome.UNKNOWN
        if _settled(row, cursor, envelope.event_id, envelope.sequence, envelope.generation):
            return Outcome.DUPLICATE
        if envelope.generation == 0 and cursor.replay_id is not None:
            # A replay took the aggregate while this one was failing: it waits behind the
            # replay's chain like any live message, and is tried again after it.
            ledger.set_status(conn, row.id, "parked", error=error)
            return Outcome.PARKED
        _dead(conn, envelope, row, error)
    return Outcome.DEAD


def _settled(
    row: ledger.Delivery,
    cursor: cursors.Cursor,
    event_id: uuid.UUID,
    sequence: int,
    generation: int,
) -> bool:
    """Whether a delivery is already done with: applied, superseded or dead, or behind its
    cursor (a first delivery; a replay leaves the cursor alone)."""
    return (
        row.status in ("applied", "superseded", "dead")
        or cursor.blocked_by == event_id
        or (generation == 0 and sequence <= cursor.last_sequence)
    )


def dead_letter_unreadable(engine: sa.Engine, raw: Any, error: str) -> Outcome:
    """A message whose envelope does not validate (a bug, or a relay of another version):
    a dead letter of the delivery it names, so its aggregate's later messages park behind
    it visibly. One that names no delivery of ours is not ours (Outcome.UNKNOWN); a copy of
    one already settled is a duplicate; one ahead of its cursor parks like any early
    message, and dies at its turn (when its predecessor releases it)."""
    event_id, destination = _identity(raw)
    if event_id is None or destination is None:
        return Outcome.UNKNOWN
    with engine.connect() as conn, conn.begin():
        found = ledger.delivery_identity(conn, event_id, destination)
        if found is None:
            return Outcome.UNKNOWN
        agg = (found.aggregate_type, found.aggregate_id)
        cursor = cursors.lock_cursor(conn, destination, *agg)
        row = ledger.delivery(conn, event_id, destination)
        if row is None:
            return Outcome.UNKNOWN
        if _settled(row, cursor, event_id, found.sequence, found.generation):
            return Outcome.DUPLICATE
        if cursor.blocked_by is not None or (
            found.generation == 0
            and (found.sequence > cursor.last_sequence + 1 or cursor.replay_id is not None)
        ):
            ledger.set_status(conn, row.id, "parked", error=error, blocked_by=cursor.blocked_by)
            return Outcome.PARKED
        recorded = {**found.envelope_fields(), "raw": raw}
        dead_letters.add_dead_letter(conn, recorded, error, row.attempts + 1)
        ledger.set_status(conn, row.id, "dead", error=error, attempt=True)
        cursors.block_cursor(conn, destination, *agg, event_id)
    return Outcome.DEAD


def _identity(raw: Any) -> tuple[uuid.UUID | None, str | None]:
    if not isinstance(raw, dict):
        return None, None
    destination = raw.get("destination")
    try:
        event_id = uuid.UUID(str(raw.get("event_id")))
    except ValueError:
        event_id = None
    return event_id, destination if isinstance(destination, str) and destination else None
