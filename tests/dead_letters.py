"""Dead letters made the way the actors make them (the guard's and the registry's own code
paths, one per error class), a downstream system that records what it applied, and a
relay stand-in that publishes with the relay's own statements and delivers at once."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa

from actors.guard import Outcome, deliver
from actors.registry import Policy, _apply, receive
from adapters.systems.errors import PermanentError, TransientError
from outbox.envelope import Envelope
from outbox.messages import build
from outbox.relay_queries import claim, mark_published


class Recorder:
    """A downstream system: remembers what it applied, in order; fails as told."""

    def __init__(self) -> None:
        self.applied: list[tuple[str, str, int]] = []  # (destination, aggregate, sequence)
        self.fail: dict[tuple[str, int], Exception] = {}  # (aggregate, sequence) → error
        self.lock = threading.Lock()

    def __call__(self, envelope: Envelope) -> None:
        error = self.fail.get((envelope.aggregate_id, envelope.sequence))
        if error is not None:
            raise error
        with self.lock:
            self.applied.append((envelope.destination, envelope.aggregate_id, envelope.sequence))


def healthy(_destination: str) -> bool:
    return True


def kill_rejected(engine: sa.Engine, envelope: Envelope, status: int = 422) -> None:
    """The system refuses the document: a PermanentError with its 4xx status."""
    system = Recorder()
    system.fail[(envelope.aggregate_id, envelope.sequence)] = PermanentError(
        envelope.destination, "unknown SKU", status=status
    )
    assert deliver(engine, envelope, system) is Outcome.DEAD


def kill_failing(engine: sa.Engine, envelope: Envelope) -> None:
    """The system answers its health check but fails this document every time."""
    system = Recorder()
    system.fail[(envelope.aggregate_id, envelope.sequence)] = TransientError(
        envelope.destination, "Internal Server Error", status=500
    )
    policy = Policy(attempts=1, poison_attempts=1)
    assert _apply(engine, envelope, system, policy, healthy=healthy) == "dead"


def kill_handler(engine: sa.Engine, envelope: Envelope) -> None:
    """Our handler raises (a bug)."""
    system = Recorder()
    system.fail[(envelope.aggregate_id, envelope.sequence)] = KeyError("reservations")
    assert _apply(engine, envelope, system, Policy(attempts=1), healthy=healthy) == "dead"


def kill_unreadable(engine: sa.Engine, envelope: Envelope) -> None:
    """The message's envelope does not validate (a relay of another version, say)."""
    raw = {**envelope.model_dump(mode="json"), "sequence": "first"}
    clients = SimpleNamespace(healthy=healthy, channel=lambda name: None)
    assert receive(engine, raw, Recorder(), clients, Policy()) == "dead"


KILLERS: dict[str, Callable[[sa.Engine, Envelope], None]] = {
    "rejected": kill_rejected,
    "failing": kill_failing,
    "handler": kill_handler,
    "unreadable": kill_unreadable,
}


def publish_all(engine: sa.Engine) -> None:
    """Mark every delivery published, as if the relay had sent them all."""
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE outbox_deliveries SET published_at = now(), status = 'published'")
        )


def relay_and_deliver(engine: sa.Engine, handler: Any) -> list[tuple[str, int, str]]:
    """What the relay and a worker do, one message at a time until nothing is left
    unpublished: claim the oldest unpublished delivery with the relay's statement, mark it
    published, deliver it. Returns (aggregate, sequence, outcome) of each, in order."""
    done: list[tuple[str, int, str]] = []
    while True:
        with engine.begin() as conn:
            rows = claim(conn, None, 1)
            if not rows:
                return done
            mark_published(conn, [rows[0].delivery_id])
        envelope = Envelope.model_validate(json.loads(build(rows[0]).body)["args"][0])
        outcome = deliver(engine, envelope, handler)
        done.append((envelope.aggregate_id, envelope.sequence, outcome.value))
        assert len(done) < 10_000, "the relay stand-in does not come to an end"


def rows(engine: sa.Engine, sql: str, **params: Any) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text(sql), params))


def ledger(engine: sa.Engine, destination: str) -> dict[tuple[str, int], Any]:
    found = rows(engine, "SELECT * FROM outbox_deliveries WHERE destination = :d", d=destination)
    return {(r.aggregate_id, r.sequence): r for r in found}


def cursor(engine: sa.Engine, destination: str, aggregate: str) -> Any:
    (found,) = rows(
        engine,
        "SELECT * FROM consumer_cursors WHERE destination = :d AND aggregate_id = :a",
        d=destination,
        a=aggregate,
    )
    return found


def dead_letter_ids(engine: sa.Engine) -> dict[tuple[str, str], int]:
    """(destination, aggregate) → the dead letter's id."""
    found = rows(engine, "SELECT id, destination, aggregate_id FROM dead_letters")
    return {(r.destination, r.aggregate_id): r.id for r in found}
