"""Replays racing what runs beside them: cancels, consumers, prunes, dead letters and the
runner itself, each interleaving forced (a lock waiter seen in pg_stat_activity, a
handler held on an event), against real PostgreSQL."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from actors import guard
from actors.guard import Outcome, deliver
from adapters.db import retention
from adapters.db.replays import ReplayFilter
from ops import replay
from ops.wiring import ROUTING
from outbox import writer
from outbox.writer import write_events
from tests.integration.test_replay import (
    Recorder,
    cursor,
    deliver_all,
    delivered_orders,
    ledger,
    unpublished,
    write_live_event,
)
from tests.outbox_rows import TRACE, order_events


def wait_for_lock_wait(engine: sa.Engine, needle: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    with engine.connect() as conn:
        while time.monotonic() < deadline:
            n = conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    " AND query LIKE :q"
                ),
                {"q": f"%{needle}%"},
            ).scalar_one()
            if n:
                return
            conn.rollback()  # pg_stat_activity is read once per transaction
            time.sleep(0.02)
    raise AssertionError(f"nobody waited on a lock in {needle!r}")


def stop_after_first_batch(engine: sa.Engine, replay_id: int) -> None:
    stop = threading.Event()
    replay.run(engine, replay_id, progress=lambda done, _: done and stop.set(), stop=stop)


def test_one_transactions_events_of_an_order_take_ids_in_sequence_order(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = iter([uuid.UUID(int=(3 - i) << 120) for i in range(3)])  # event ids decreasing
    monkeypatch.setattr(writer.uuid, "uuid4", lambda: next(ids))
    with engine.begin() as conn:  # accepted, allocated, backordered in one commit, say
        write_events(conn, order_events("o-0", 3), TRACE, lambda: ["web"], routing=ROUTING)
    rows = ledger(engine, "wms")
    assert rows[("o-0", 1)].id < rows[("o-0", 2)].id < rows[("o-0", 3)].id


def test_cancel_ends_a_chain_whose_rows_are_not_in_id_order(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows written before the writer ordered them (or by another writer) may have ids out
    of sequence order: a batch can release step 3 before step 1. Cancel cuts the chain at
    its highest released step and sends the steps below it too."""
    system = delivered_orders(engine, aggregates=1, events_each=3)
    low, _, high = sorted(r.id for r in ledger(engine, "wms").values())
    with engine.begin() as conn:  # step 3 takes the lowest id, step 1 the highest
        swap = "UPDATE outbox_deliveries SET id = :to WHERE id = :id"
        conn.execute(sa.text(swap), {"id": low, "to": -low})
        conn.execute(sa.text(swap), {"id": high, "to": low})
        conn.execute(sa.text(swap), {"id": -low, "to": high})
    assert ledger(engine, "wms")[("o-0", 3)].id == low
    monkeypatch.setattr(replay, "MAX_BATCH", 1)
    flt = ReplayFilter(destinations=("wms",))
    replay_id, _ = replay.start(engine, "reprocess", flt, created_by="t")
    stop_after_first_batch(engine, replay_id)  # released: the lowest id, step 3
    replay.cancel(engine, replay_id)
    write_live_event(engine, "o-0", 4)
    deliver_all(engine, "wms", system)
    assert system.applied[3:] == [("o-0", 1, 1), ("o-0", 2, 1), ("o-0", 3, 1), ("o-0", 4, 0)]
    assert cursor(engine, "wms", "o-0").replay_id is None


# Cancel's _CUT_CHAINS used to read the ledger with the snapshot its statement took before it
#    waited for a cursor lock: a live message parked meanwhile is not freed.
def test_cancel_frees_a_live_message_parked_while_cancel_waited_for_the_cursor(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    system = delivered_orders(engine, aggregates=1, events_each=3)
    monkeypatch.setattr(replay, "MAX_BATCH", 1)
    replay_id, _ = replay.start(engine, "reprocess", ReplayFilter(orders=("o-0",)), created_by="t")
    stop_after_first_batch(engine, replay_id)
    deliver_all(engine, "wms", system)  # step 1 of 3 applied
    write_live_event(engine, "o-0", 4)
    (live,) = unpublished(engine, "wms")

    parked, go_on = threading.Event(), threading.Event()
    real_set_status = guard.ledger.set_status

    def set_status_then_wait(*a: Any, **kw: Any) -> None:
        real_set_status(*a, **kw)
        parked.set()
        go_on.wait(10)  # the worker thread has not committed yet

    monkeypatch.setattr(guard.ledger, "set_status", set_status_then_wait)
    outcome: list[Outcome] = []
    worker = threading.Thread(target=lambda: outcome.append(deliver(engine, live, system)))
    worker.start()
    assert parked.wait(10)
    canceller = threading.Thread(target=lambda: replay.cancel(engine, replay_id))
    canceller.start()
    wait_for_lock_wait(engine, "FROM consumer_cursors WHERE replay_id")
    go_on.set()
    worker.join(10)
    canceller.join(10)
    monkeypatch.setattr(guard.ledger, "set_status", real_set_status)
    assert outcome == [Outcome.PARKED]
    assert cursor(engine, "wms", "o-0").replay_id is None  # the hold is gone ...
    deliver_all(engine, "wms", system)
    assert ledger(engine, "wms")[("o-0", 4)].status == "applied"  # ... and so must the park


# A prune batch deleting a selected row while the planning transaction runs: the hold
#    counts the row, the chain numbering skips it (gap), the chain never ends.
def test_a_prune_racing_the_planning_leaves_no_gap_in_a_chain(engine: sa.Engine) -> None:
    system = delivered_orders(engine, aggregates=1, events_each=3)
    deliver_all(engine, "channel:web", Recorder())
    step2 = ledger(engine, "wms")[("o-0", 2)]
    flt = ReplayFilter(orders=("o-0",), destinations=("wms",))
    with engine.connect() as pruner:
        # retention's own statement, with a cutoff that lets these fresh rows go
        gone = pruner.execute(
            sa.text(retention.DELETE_DELIVERIES.text.replace(":cutoff", "now() + interval '1h'")),
            {"event_ids": [step2.event_id]},
        ).one()
        assert gone.n == 2, gone
        started: list[int] = []
        planner = threading.Thread(
            target=lambda: started.append(replay.start(engine, "reprocess", flt, created_by="t")[0])
        )
        planner.start()
        wait_for_lock_wait(engine, "ORDER BY id FOR UPDATE")
        pruner.commit()
    planner.join(10)
    replay.run(engine, started[0])
    write_live_event(engine, "o-0", 4)
    deliver_all(engine, "wms", system)
    held = cursor(engine, "wms", "o-0")
    assert held.replay_id is None, (held.replay_step, held.replay_steps)
    assert ("o-0", 4, 0) in system.applied


# A cancel that lands while the runner is between batches, then Ctrl-C: the runner's
#    unconditional set_state('interrupted') turns the cancelled replay active again.
def test_a_cancelled_replay_stays_cancelled_when_its_runner_is_stopped(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    delivered_orders(engine, aggregates=3, events_each=3)
    monkeypatch.setattr(replay, "MAX_BATCH", 1)
    stop = threading.Event()
    replay_id, _ = replay.start(engine, "reprocess", ReplayFilter(), created_by="t", rate=2)
    result: list[Any] = []
    runner = threading.Thread(
        target=lambda: result.append(replay.run(engine, replay_id, stop=stop))
    )
    runner.start()
    time.sleep(0.2)  # first batch out, the runner paces (0.5 s) before the next
    replay.cancel(engine, replay_id)
    stop.set()  # the operator then Ctrl-Cs the foreground `outbox replay`
    runner.join(10)
    with engine.connect() as conn:
        state = conn.execute(
            sa.text("SELECT state FROM replays WHERE id = :r"), {"r": replay_id}
        ).scalar_one()
    assert state == "cancelled", (state, result)


# A live message in its handler while the replay is planned dies after the planner's
#    blocked check: the chain is held on a blocked aggregate; purging the dead letter
#    releases neither the chain's parked steps nor the hold.
def test_a_dead_letter_born_during_planning_does_not_strand_the_chain(
    engine: sa.Engine,
) -> None:
    from adapters.db.dead_letters import DeadLetterFilter, list_dead_letters
    from adapters.systems.errors import PermanentError
    from ops import dead_letters

    system = delivered_orders(engine, aggregates=1, events_each=3)
    write_live_event(engine, "o-0", 4)
    (live,) = unpublished(engine, "wms")
    in_handler, go_on = threading.Event(), threading.Event()

    def poison(envelope: Any) -> None:
        in_handler.set()
        go_on.wait(10)
        raise PermanentError("rejected (HTTP 422)")

    worker = threading.Thread(target=lambda: deliver(engine, live, poison))
    worker.start()
    assert in_handler.wait(10)
    started: list[int] = []
    flt = ReplayFilter(orders=("o-0",))
    planner = threading.Thread(
        target=lambda: started.append(replay.start(engine, "reprocess", flt, created_by="t")[0])
    )
    planner.start()
    wait_for_lock_wait(engine, "INSERT INTO consumer_cursors AS c")
    go_on.set()
    worker.join(10)
    planner.join(10)
    replay.run(engine, started[0])
    deliver_all(engine, "wms", system)
    with engine.connect() as conn:
        letters = list_dead_letters(conn, DeadLetterFilter())
    dead_letters.purge(engine, letters, "given up")
    deliver_all(engine, "wms", system)
    held = cursor(engine, "wms", "o-0")
    statuses = {k: r.status for k, r in ledger(engine, "wms").items()}
    assert held.replay_id is None, (held.replay_step, held.replay_steps, statuses)
