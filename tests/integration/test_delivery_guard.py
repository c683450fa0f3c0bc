"""The consumer's guard: once, in order, poison and outages parked — against real
PostgreSQL.

The handler here records its calls; the actors put the real system clients there."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import dramatiq
import psycopg
import pytest
import sqlalchemy as sa

from actors.guard import Outcome, dead_letter, deliver, park_waiting
from actors.probe import pause, probe_once, resume
from actors.registry import Policy, _apply
from adapters.db import breakers
from adapters.db.engine import make_engine, raw_postgres_dsn
from adapters.db.ledger import release_waiting
from adapters.systems.errors import PermanentError, TransientError
from domain.events import DomainEvent, InventoryChanged, LocationStock
from ops.wiring import ROUTING
from outbox.envelope import Envelope
from outbox.writer import NOTIFY_CHANNEL, write_events
from tests.outbox_rows import TRACE, envelopes, write_orders


class Recorder:
    """A downstream system: remembers what it applied; can fail on demand."""

    def __init__(self) -> None:
        self.applied: list[tuple[str, int]] = []
        self.fail: dict[tuple[str, int], Exception] = {}
        self.lock = threading.Lock()

    def __call__(self, envelope: Envelope) -> None:
        key = (envelope.aggregate_id, envelope.sequence)
        if key in self.fail:
            raise self.fail[key]
        with self.lock:
            self.applied.append(key)


def ledger(engine: sa.Engine, destination: str) -> dict[tuple[str, int], Any]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT * FROM outbox_deliveries WHERE destination = :d"), {"d": destination}
        )
        return {(r.aggregate_id, r.sequence): r for r in rows}


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(database_url, pool_size=8)
    yield engine
    engine.dispose()


@pytest.fixture
def wms(engine: sa.Engine) -> list[Envelope]:
    write_orders(engine, aggregates=2, events_each=3)  # o-0 and o-1, sequences 1..3 at wms
    return envelopes(engine, "wms")


# The race tests see a waiting transaction (pg_stat_activity), so each proves its
# interleaving happened.
def lock_waiters(engine: sa.Engine) -> int:
    """Backends of this database waiting for a lock right now."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
        )


def await_lock_waiter(engine: sa.Engine, *alive: threading.Thread) -> None:
    """Until a transaction of this database waits for a lock (the race is set up); fails if
    none does while the given threads are still running."""
    deadline = time.monotonic() + 10
    while lock_waiters(engine) == 0:
        assert all(t.is_alive() for t in alive), "finished without ever waiting for the lock"
        assert time.monotonic() < deadline, "no transaction waited for the lock"
        time.sleep(0.005)


class Gate:
    """A handler whose first call waits until the test opens the gate."""

    def __init__(self, handler: Any) -> None:
        self.handler, self.entered, self.open = handler, threading.Event(), threading.Event()

    def __call__(self, envelope: Envelope) -> Any:
        if not self.entered.is_set():
            self.entered.set()
            assert self.open.wait(10)
        return self.handler(envelope)


def two_copies_at_once(engine: sa.Engine, message: Envelope, handler: Any) -> list[Outcome]:
    """The same message handled by two threads at once: the first is inside the handler
    (holding the cursor lock) while the second is seen waiting for that lock."""
    gate = Gate(handler)
    outcomes: list[Outcome] = []
    threads = [
        threading.Thread(target=lambda: outcomes.append(deliver(engine, message, gate)))
        for _ in range(2)
    ]
    threads[0].start()
    assert gate.entered.wait(10)
    threads[1].start()
    await_lock_waiter(engine, threads[1])
    gate.open.set()
    for t in threads:
        t.join(10)
    return outcomes


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
    message = by_key(wms, "o-0", 1)
    outcomes = two_copies_at_once(engine, message, system)
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
    assert rows[("o-0", 2)].blocked_by == by_key(wms, "o-0", 1).event_id
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
    with pytest.raises(dramatiq.Retry):  # the first attempt: Dramatiq retries it
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


def test_a_replay_is_applied_again_once_and_leaves_the_cursor_alone(
    engine: sa.Engine, wms: list[Envelope]
) -> None:
    system = Recorder()
    one, two = by_key(wms, "o-0", 1), by_key(wms, "o-0", 2)
    assert deliver(engine, one, system) is Outcome.APPLIED
    replay = one.model_copy(update={"generation": 1})
    assert deliver(engine, replay, system) is Outcome.APPLIED
    assert deliver(engine, replay, system) is Outcome.DUPLICATE  # the replay's own copy
    assert deliver(engine, two, system) is Outcome.APPLIED  # the cursor was at 1 still
    assert system.applied == [("o-0", 1), ("o-0", 1), ("o-0", 2)]


def test_two_copies_of_a_replay_at_once_have_one_effect(
    engine: sa.Engine, wms: list[Envelope]
) -> None:
    """A replay does not move the cursor: only the inbox, read after the lock, tells the
    second copy that the first one was applied while it waited."""
    system = Recorder()
    assert deliver(engine, by_key(wms, "o-0", 1), system) is Outcome.APPLIED
    replay = by_key(wms, "o-0", 1).model_copy(update={"generation": 1})
    outcomes = two_copies_at_once(engine, replay, system)
    assert sorted(outcomes) == sorted([Outcome.APPLIED, Outcome.DUPLICATE])
    assert system.applied == [("o-0", 1), ("o-0", 1)]


def test_a_redelivered_dead_letter_stays_dead(engine: sa.Engine, wms: list[Envelope]) -> None:
    system = Recorder()
    poison = by_key(wms, "o-0", 1)
    system.fail[("o-0", 1)] = PermanentError("wms", "unknown SKU", status=422)
    assert deliver(engine, poison, system) is Outcome.DEAD
    assert deliver(engine, poison, system) is Outcome.DUPLICATE
    assert ledger(engine, "wms")[("o-0", 1)].status == "dead"
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM dead_letters")).scalar_one() == 1


def test_a_retry_after_is_honoured_and_a_long_one_waits_in_the_database(
    engine: sa.Engine, wms: list[Envelope]
) -> None:
    system = Recorder()
    policy = Policy(attempts=3, breaker_threshold=10, max_retry_after_s=60)
    first, other = by_key(wms, "o-0", 1), by_key(wms, "o-1", 1)
    system.fail[("o-0", 1)] = TransientError("wms", "slow down", status=429, retry_after=3)
    with pytest.raises(dramatiq.Retry) as retry:
        _apply(engine, first, system, policy)
    assert retry.value.delay is not None and 3000 <= retry.value.delay <= 3300

    system.fail[("o-1", 1)] = TransientError("wms", "maintenance", status=503, retry_after=3600)
    assert _apply(engine, other, system, policy) == "waiting"  # not an hour in a delay queue
    with engine.connect() as conn:
        state = conn.execute(sa.text("SELECT state FROM destinations WHERE name='wms'")).scalar()
    assert state == "open" and ledger(engine, "wms")[("o-1", 1)].status == "waiting"
    # The system asked for an hour: the probe leaves it alone, even though it answers.
    assert probe_once(engine, lambda destination: True) == []


def test_a_released_successor_wakes_a_listening_relay(database_url: str) -> None:
    """A relay on NOTIFY polls only as a safety net: the guard's release of a parked
    successor must wake it, or the successor waits for that poll."""
    engine = make_engine(database_url, pool_size=4)
    try:
        write_orders(engine, aggregates=1, events_each=2)
        two, one = (by_key(envelopes(engine, "wms"), "o-0", s) for s in (2, 1))
        listener = psycopg.connect(raw_postgres_dsn(database_url), autocommit=True)
        listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
        system = Recorder()
        assert deliver(engine, two, system) is Outcome.PARKED
        assert list(listener.notifies(timeout=0.2)) == []  # nothing released yet
        assert deliver(engine, one, system) is Outcome.APPLIED
        assert [n.channel for n in listener.notifies(timeout=2, stop_after=1)] == [NOTIFY_CHANNEL]
        listener.close()
    finally:
        engine.dispose()


def test_two_copies_of_a_poison_message_at_once_leave_one_dead_letter(
    engine: sa.Engine, wms: list[Envelope]
) -> None:
    """The second copy waits on the cursor while the first dies: it must see that (the
    cursor names the dead event) rather than park the dead row behind itself."""
    poison = by_key(wms, "o-0", 1)

    def reject(envelope: Envelope) -> None:
        raise PermanentError("wms", "unknown SKU", status=422)

    outcomes = two_copies_at_once(engine, poison, reject)
    assert sorted(outcomes) == sorted([Outcome.DEAD, Outcome.DUPLICATE])
    assert ledger(engine, "wms")[("o-0", 1)].status == "dead"
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM dead_letters")).scalar_one() == 1


def test_a_message_arriving_while_the_breaker_closes_is_applied_not_stranded(
    engine: sa.Engine, wms: list[Envelope]
) -> None:
    """The probe closes the breaker and releases what waits in one transaction; a message
    whose guard saw the breaker open before that committed must not park as waiting after
    the release ran (nothing would release it again)."""
    system = Recorder()
    pause(engine, "wms", "maintenance")
    message = by_key(wms, "o-0", 1)
    outcomes: list[Outcome] = []
    with engine.connect() as probe, probe.begin():
        breakers.set_breaker(probe, "wms", "closed", "health probe")  # row locked, uncommitted
        guard = threading.Thread(target=lambda: outcomes.append(deliver(engine, message, system)))
        guard.start()
        await_lock_waiter(engine, guard)  # the guard waits for the breaker row
        release_waiting(probe, "wms")
    guard.join(10)
    assert outcomes == [Outcome.APPLIED]
    assert ledger(engine, "wms")[("o-0", 1)].status == "applied"


def test_a_stock_figure_that_a_newer_one_follows_is_superseded_not_sent(
    engine: sa.Engine,
) -> None:
    figures = [
        InventoryChanged(
            sku="TEE",
            atp=atp,
            locations=[LocationStock(location="WH", on_hand=atp, reserved=0, atp=atp)],
        )
        for atp in (5, 4)
    ]
    with engine.begin() as conn:
        for version, figure in enumerate(figures, start=1):
            write_events(
                conn, [DomainEvent(figure, version, None)], TRACE, lambda: ["web"], routing=ROUTING
            )
    older, newer = envelopes(engine, "channel:web")
    system = Recorder()
    assert deliver(engine, older, system) is Outcome.SUPERSEDED
    assert deliver(engine, newer, system) is Outcome.APPLIED
    assert system.applied == [("TEE", 2)]  # only the newest figure went out
    rows = ledger(engine, "channel:web")
    assert (rows[("TEE", 1)].status, rows[("TEE", 2)].status) == ("superseded", "applied")


# -- parking and resuming at once (issue 8, point 3) ------------------------------------


def test_parking_as_waiting_while_a_resume_runs_strands_nothing(database_url: str) -> None:
    """park_waiting has marked the row waiting and is about to commit when the probe's
    resume closes the breaker and releases what waits. Reading the breaker without its
    lock, the resume could not see the uncommitted row: closed breaker, row waiting, and
    nobody to release it. With the lock, the resume waits for the park (seen as a lock
    waiter) and then releases the row."""
    engine = make_engine(database_url, pool_size=4)
    park_engine = make_engine(database_url, pool_size=2)
    try:
        write_orders(engine, aggregates=1, events_each=1)
        message = by_key(envelopes(engine, "wms"), "o-0", 1)
        with engine.begin() as conn:
            breakers.set_breaker(conn, "wms", "open", "503 from the WMS")
        about_to_commit, resumed = threading.Event(), threading.Event()

        @sa.event.listens_for(park_engine, "commit")
        def _hold(_conn: Any) -> None:
            about_to_commit.set()
            resumed.wait(10)

        parker = threading.Thread(target=lambda: park_waiting(park_engine, message, "503"))
        parker.start()
        assert about_to_commit.wait(10)
        resumer = threading.Thread(target=lambda: resume(engine, "wms", "health probe"))
        resumer.start()
        deadline = time.monotonic() + 10
        while resumer.is_alive() and lock_waiters(engine) == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        resume_waited_for_the_park = resumer.is_alive() and lock_waiters(engine) > 0
        resumed.set()
        parker.join(10)
        resumer.join(10)

        row = ledger(engine, "wms")[("o-0", 1)]
        with engine.connect() as conn:
            state = breakers.breaker_state(conn, "wms")
        assert not (row.status == "waiting" and state == "closed"), "stranded"
        assert (row.status, row.published_at, state) == ("pending", None, "closed")
        assert resume_waited_for_the_park  # the race happened: the resume queued on the lock
    finally:
        park_engine.dispose()
        engine.dispose()


def test_the_sweep_releases_what_waits_under_a_closed_breaker_and_counts_it(
    engine: sa.Engine, wms: list[Envelope]
) -> None:
    from datetime import UTC, datetime, timedelta

    from prometheus_client import REGISTRY

    from actors.probe import sweep_stranded
    from outbox.tables import deliveries_table as d

    def counted() -> float:
        labels = {"destination": "wms"}
        return REGISTRY.get_sample_value("ordersync_stranded_waiting_released_total", labels) or 0

    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    stranded, fresh = ledger(engine, "wms")[("o-0", 1)], ledger(engine, "wms")[("o-1", 1)]
    (open_one,) = [r for k, r in ledger(engine, "channel:web").items() if k[0] == "o-0"][:1]
    with engine.begin() as conn:
        for row, updated in (
            (stranded, hour_ago),
            (fresh, datetime.now(UTC)),
            (open_one, hour_ago),
        ):
            conn.execute(
                sa.update(d)
                .where(d.c.id == row.id)
                .values(status="waiting", published_at=hour_ago, updated_at=updated)
            )
        breakers.set_breaker(conn, "channel:web", "open", "down")  # its waiting rows are fine
    before = counted()
    assert sweep_stranded(engine, older_than_s=30) == {"wms": 1}
    assert counted() == before + 1
    rows = ledger(engine, "wms")
    assert (rows[("o-0", 1)].status, rows[("o-0", 1)].published_at) == ("pending", None)
    assert rows[("o-1", 1)].status == "waiting"  # too fresh to call stranded
    assert ledger(engine, "channel:web")[("o-0", open_one.sequence)].status == "waiting"
    assert sweep_stranded(engine, older_than_s=30) == {}


# -- a document the destination always fails on, while it is up (issue 8, point 4) -----


def up(_destination: str) -> bool:
    return True


def down(_destination: str) -> bool:
    return False


def dead_letters(engine: sa.Engine) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT * FROM dead_letters ORDER BY id")).all()


def test_a_document_failing_while_its_destination_is_up_is_poison_for_its_order_only(
    engine: sa.Engine, wms: list[Envelope]
) -> None:
    system = Recorder()
    policy = Policy(attempts=2, breaker_threshold=5, poison_attempts=3)
    poison = by_key(wms, "o-0", 1)
    system.fail[("o-0", 1)] = TransientError("wms", "500 Internal Server Error", status=500)
    assert _apply(engine, by_key(wms, "o-1", 1), system, policy, healthy=up) == "applied"
    for _ in range(2):  # a blip retry, then one at the slowest backoff: others flow
        with pytest.raises(dramatiq.Retry):
            _apply(engine, poison, system, policy, healthy=up)
    assert _apply(engine, poison, system, policy, healthy=up) == "dead"  # poison_attempts

    (dead,) = dead_letters(engine)
    assert (dead.aggregate_id, dead.sequence) == ("o-0", 1) and "HTTP 500" in dead.error
    with engine.connect() as conn:
        assert breakers.breaker_state(conn, "wms") == "closed"  # the others never waited
    assert _apply(engine, by_key(wms, "o-0", 2), system, policy, healthy=up) == "parked"
    for sequence in (2, 3):
        assert _apply(engine, by_key(wms, "o-1", sequence), system, policy, healthy=up) == "applied"


def test_a_blip_that_outlasts_the_fast_retries_is_not_a_dead_letter(
    engine: sa.Engine, wms: list[Envelope]
) -> None:
    """Fails past the fast retries while the destination is up and others flow, then goes
    through: retried at the slowest backoff, applied, never dead."""
    system = Recorder()
    policy = Policy(attempts=2, breaker_threshold=5, poison_attempts=9)
    message = by_key(wms, "o-0", 1)
    system.fail[("o-0", 1)] = TransientError("wms", "503 Service Unavailable", status=503)
    assert _apply(engine, by_key(wms, "o-1", 1), system, policy, healthy=up) == "applied"
    for _ in range(4):
        with pytest.raises(dramatiq.Retry):
            _apply(engine, message, system, policy, healthy=up)
    del system.fail[("o-0", 1)]
    assert _apply(engine, message, system, policy, healthy=up) == "applied"
    assert dead_letters(engine) == []


def test_a_copy_that_dies_after_another_copy_was_applied_is_a_duplicate_not_dead(
    engine: sa.Engine, wms: list[Envelope]
) -> None:
    """Two copies of one message (at least once): copy B's last attempt fails while copy A
    is applied; B's dead-lettering, under the cursor lock, finds it settled and writes
    nothing — no dead letter, no blocked cursor, the successor not parked."""
    system = Recorder()
    message = by_key(wms, "o-0", 1)
    assert deliver(engine, message, system) is Outcome.APPLIED  # copy A
    assert dead_letter(engine, message, "copy B: 500 (HTTP 500)") is Outcome.DUPLICATE
    assert dead_letters(engine) == []
    assert ledger(engine, "wms")[("o-0", 1)].status == "applied"
    assert deliver(engine, by_key(wms, "o-0", 2), system) is Outcome.APPLIED


def test_with_no_other_traffic_a_failing_document_is_poison_after_a_bounded_number_of_cycles(
    engine: sa.Engine, wms: list[Envelope]
) -> None:
    system = Recorder()
    policy = Policy(attempts=2, breaker_threshold=5, poison_attempts=4)
    poison = by_key(wms, "o-0", 1)
    system.fail[("o-0", 1)] = TransientError("wms", "500 Internal Server Error", status=500)
    with pytest.raises(dramatiq.Retry):
        _apply(engine, poison, system, policy, healthy=up)
    outcomes = []
    for _ in range(3):  # each cycle: it waits, the probe finds the WMS up and releases it
        outcomes.append(_apply(engine, poison, system, policy, healthy=up))
        if outcomes[-1] == "waiting":
            assert probe_once(engine, up) == ["wms"]
    assert outcomes == ["waiting", "waiting", "dead"]  # attempts 2, 3, then 4 = poison_attempts
    assert [d.aggregate_id for d in dead_letters(engine)] == ["o-0"]


def test_a_destination_whose_health_check_fails_is_an_outage_and_dead_letters_nothing(
    engine: sa.Engine, wms: list[Envelope]
) -> None:
    system = Recorder()
    policy = Policy(attempts=2, breaker_threshold=50, poison_attempts=4)
    message = by_key(wms, "o-0", 1)
    system.fail[("o-0", 1)] = TransientError("wms", "500 Internal Server Error", status=500)
    assert _apply(engine, by_key(wms, "o-1", 1), system, policy, healthy=down) == "applied"
    with pytest.raises(dramatiq.Retry):
        _apply(engine, message, system, policy, healthy=down)
    for _ in range(6):  # far past poison_attempts: still an outage, still waiting
        assert _apply(engine, message, system, policy, healthy=down) == "waiting"
        assert resume(engine, "wms", "operator") == 1
    assert dead_letters(engine) == []


# -- a message whose envelope does not validate (issue 8, point 1) -----------------------


def test_an_unreadable_envelope_is_a_dead_letter_of_the_delivery_it_names(
    engine: sa.Engine, wms: list[Envelope]
) -> None:
    """Not a retry until Dramatiq gives up and drops it into its own .XQ: the ledger row it
    names is dead, recorded with the raw message, and its aggregate's successors park."""
    from types import SimpleNamespace

    from actors.registry import receive

    system = Recorder()
    clients = SimpleNamespace(healthy=up, channel=lambda name: None)
    raw = by_key(wms, "o-0", 1).model_dump(mode="json")
    raw["sequence"] = "first"  # a relay of another version, say
    assert receive(engine, raw, system, clients, Policy()) == "dead"
    assert receive(engine, raw, system, clients, Policy()) == "duplicate"  # a second copy
    not_ours = {**raw, "event_id": str(uuid.uuid4())}
    assert receive(engine, not_ours, system, clients, Policy()) == "unknown"
    assert receive(engine, ["not", "a", "dict"], system, clients, Policy()) == "unknown"

    (dead,) = dead_letters(engine)
    assert (dead.aggregate_id, dead.sequence, dead.event_type) == ("o-0", 1, "order.allocated")
    assert "sequence" in dead.error and "first" not in dead.error  # where, not the input
    assert ledger(engine, "wms")[("o-0", 1)].status == "dead"
    successor = by_key(wms, "o-0", 2).model_dump(mode="json")
    assert receive(engine, successor, system, clients, Policy()) == "parked"
    assert system.applied == []


def test_an_unreadable_envelope_ahead_of_its_cursor_parks_and_a_settled_one_is_a_duplicate(
    engine: sa.Engine, wms: list[Envelope]
) -> None:
    """Prefetch reorders: an unreadable #2 that arrives before #1 must not block the
    cursor (#1 would park behind its own successor); and an unreadable copy of an applied
    message is only a duplicate."""
    from types import SimpleNamespace

    from actors.registry import receive

    system = Recorder()
    clients = SimpleNamespace(healthy=up, channel=lambda name: None)
    unreadable_two = {**by_key(wms, "o-0", 2).model_dump(mode="json"), "sequence": "two"}
    assert receive(engine, unreadable_two, system, clients, Policy()) == "parked"
    one = by_key(wms, "o-0", 1)
    assert receive(engine, one.model_dump(mode="json"), system, clients, Policy()) == "applied"
    unreadable_one = {**one.model_dump(mode="json"), "sequence": "one"}
    assert receive(engine, unreadable_one, system, clients, Policy()) == "duplicate"
    assert system.applied == [("o-0", 1)] and dead_letters(engine) == []
    assert ledger(engine, "wms")[("o-0", 2)].status == "pending"  # released for its turn
