"""The consumer's guard against real PostgreSQL: once, in order, poison and outages parked.

The handler here records its calls; the actors put the real system clients there."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa

from actors.guard import Outcome, deliver
from actors.probe import pause, probe_once, resume
from actors.registry import Policy, _apply
from adapters.systems.errors import PermanentError, TransientError
from outbox.envelope import Envelope
from tests.outbox_rows import envelopes, write_orders


class Recorder:
    """A downstream system: remembers what it applied; can fail on demand."""

    def __init__(self) -> None:
        self.applied: list[tuple[str, int]] = []
        self.fail: dict[tuple[str, int], Exception] = {}
        self.slow = 0.0
        self.lock = threading.Lock()

    def __call__(self, envelope: Envelope) -> None:
        key = (envelope.aggregate_id, envelope.sequence)
        if key in self.fail:
            raise self.fail[key]
        time.sleep(self.slow)
        with self.lock:
            self.applied.append(key)


def ledger(engine: sa.Engine, destination: str) -> dict[tuple[str, int], Any]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT * FROM outbox_deliveries WHERE destination = :d"), {"d": destination}
        )
        return {(r.aggregate_id, r.sequence): r for r in rows}


@pytest.fixture
def wms(engine: sa.Engine) -> list[Envelope]:
    write_orders(engine, aggregates=2, events_each=3)  # o-0 and o-1, sequences 1..3 at wms
    return envelopes(engine, "wms")


def by_key(items: list[Envelope], aggregate: str, sequence: int) -> Envelope:
    return next(e for e in items if (e.aggregate_id, e.sequence) == (aggregate, sequence))


def test_the_same_message_twice_is_applied_once(engine: sa.Engine, wms: list[Envelope]) -> None:
    system = Recorder()
    first = by_key(wms, "o-0", 1)
    assert deliver(engine, first, system) is Outcome.APPLIED
    assert deliver(engine, first, system) is Outcome.DUPLICATE
    assert system.applied == [("o-0", 1)]
    row = ledger(engine, "wms")[("o-0", 1)]
    assert (row.status, row.attempts) == ("applied", 1) and row.applied_at is not None


def test_two_copies_handled_at_once_by_two_threads_have_one_effect(
    engine: sa.Engine, wms: list[Envelope]
) -> None:
    system = Recorder()
    system.slow = 0.3  # the first copy holds the cursor while "calling the system"
    message = by_key(wms, "o-0", 1)
    outcomes: list[Outcome] = []
    threads = [
        threading.Thread(target=lambda: outcomes.append(deliver(engine, message, system)))
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == sorted([Outcome.APPLIED, Outcome.DUPLICATE])
    assert system.applied == [("o-0", 1)]


def test_messages_delivered_in_reverse_are_applied_in_sequence(
    engine: sa.Engine, wms: list[Envelope]
) -> None:
    system = Recorder()
    three, two, one = (by_key(wms, "o-0", s) for s in (3, 2, 1))
    assert deliver(engine, three, system) is Outcome.PARKED
    assert deliver(engine, two, system) is Outcome.PARKED
    assert ledger(engine, "wms")[("o-0", 3)].status == "parked"
    assert deliver(engine, one, system) is Outcome.APPLIED
    # Applying 1 released 2 through the outbox: unpublished again, for the relay.
    released = ledger(engine, "wms")[("o-0", 2)]
    assert (released.status, released.published_at) == ("pending", None)
    assert deliver(engine, two, system) is Outcome.APPLIED
    assert ledger(engine, "wms")[("o-0", 3)].status == "pending"
    assert deliver(engine, three, system) is Outcome.APPLIED
    assert system.applied == [("o-0", 1), ("o-0", 2), ("o-0", 3)]


def test_a_poison_message_parks_only_its_own_aggregates_successors(
    engine: sa.Engine, wms: list[Envelope]
) -> None:
    system = Recorder()
    system.fail[("o-0", 1)] = PermanentError("wms", "unknown SKU", status=422)
    assert deliver(engine, by_key(wms, "o-0", 1), system) is Outcome.DEAD
    assert deliver(engine, by_key(wms, "o-0", 2), system) is Outcome.PARKED
    for sequence in (1, 2, 3):  # the other aggregate flows on
        assert deliver(engine, by_key(wms, "o-1", sequence), system) is Outcome.APPLIED
    rows = ledger(engine, "wms")
    assert rows[("o-0", 1)].status == "dead" and "unknown SKU" in rows[("o-0", 1)].last_error
    assert rows[("o-0", 2)].status == "parked"
    assert str(rows[("o-0", 2)].blocked_by) == str(by_key(wms, "o-0", 1).event_id)
    with engine.connect() as conn:
        dead = conn.execute(sa.text("SELECT * FROM dead_letters")).all()
    assert [(d.aggregate_id, d.sequence, d.destination) for d in dead] == [("o-0", 1, "wms")]
    assert "unknown SKU" in dead[0].error


def test_an_outage_longer_than_the_retries_parks_messages_as_waiting_then_releases_them(
    engine: sa.Engine, wms: list[Envelope]
) -> None:
    system = Recorder()
    policy = Policy(attempts=2, breaker_threshold=3)
    down = TransientError("wms", "503 Service Unavailable", status=503)
    message = by_key(wms, "o-0", 1)
    system.fail[("o-0", 1)] = down
    with pytest.raises(TransientError):  # the first attempt: Dramatiq retries it
        _apply(engine, message, system, policy)
    assert _apply(engine, message, system, policy) == "waiting"  # retries spent: it waits
    with engine.connect() as conn:
        state = conn.execute(sa.text("SELECT state FROM destinations WHERE name='wms'")).scalar()
    assert state == "open"
    # While the breaker is open, everything for the WMS waits without calling it.
    assert _apply(engine, by_key(wms, "o-1", 1), system, policy) == "waiting"
    assert system.applied == []
    assert {r.status for r in ledger(engine, "wms").values()} >= {"waiting"}
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM dead_letters")).scalar_one() == 0

    del system.fail[("o-0", 1)]
    assert probe_once(engine, lambda destination: destination != "wms") == []
    assert probe_once(engine, lambda destination: True) == ["wms"]
    released = ledger(engine, "wms")
    assert released[("o-0", 1)].status == "pending" and released[("o-0", 1)].published_at is None
    for m in wms:  # the relay would now send them again, in id order
        _apply(engine, m, system, policy)
    assert sorted(system.applied) == sorted((m.aggregate_id, m.sequence) for m in wms)


def test_a_paused_destination_waits_until_resumed(engine: sa.Engine, wms: list[Envelope]) -> None:
    system = Recorder()
    pause(engine, "wms", "maintenance")
    assert deliver(engine, by_key(wms, "o-0", 1), system) is Outcome.WAITING
    assert probe_once(engine, lambda destination: True) == []  # a pause is not probed
    assert resume(engine, "wms", "done") == 1
    assert deliver(engine, by_key(wms, "o-0", 1), system) is Outcome.APPLIED
