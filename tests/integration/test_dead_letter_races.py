"""Dead letters and reprocess chains racing (generation > 0 copies, a live message dying
while a replay takes its aggregate), against real PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from actors.guard import Outcome, dead_letter, deliver
from adapters.db.dead_letters import DeadLetterFilter, list_dead_letters
from adapters.db.replays import ReplayFilter
from adapters.systems.errors import PermanentError
from ops import dead_letters, replay
from outbox.envelope import Envelope
from tests.integration.test_replay import (
    cursor,
    deliver_all,
    delivered_orders,
    ledger,
    unpublished,
    write_live_event,
)

pytestmark = pytest.mark.integration


def _dying_step_2(engine: sa.Engine) -> tuple[object, Envelope]:
    system = delivered_orders(engine, aggregates=1, events_each=3)
    replay_id, _ = replay.start(engine, "reprocess", ReplayFilter(orders=("o-0",)), created_by="t")
    replay.run(engine, replay_id)
    died: list[Envelope] = []

    def rejecting_step_2(envelope: Envelope) -> None:
        if envelope.generation == 1 and envelope.sequence == 2:
            died.append(envelope)
            raise PermanentError("rejected (HTTP 422)")
        system(envelope)

    while batch := unpublished(engine, "wms"):
        for envelope in batch:
            deliver(engine, envelope, rejecting_step_2)
    assert ledger(engine, "wms")[("o-0", 2)].status == "dead"
    return system, died[0]


def test_a_second_copy_of_a_dead_replay_step_leaves_it_dead_and_requeueable(
    engine: sa.Engine,
) -> None:
    """At least once: a copy of the dead gen-1 message arrives again (a relay republish, a
    redelivery after a lost ack). For generation 0 the guard drops it (row dead / cursor
    blocked_by names it); for a replay it parks the dead row behind its own block, so the
    ledger says parked and `dlq requeue` refuses the dead letter."""
    system, dead_copy = _dying_step_2(engine)

    again = deliver(engine, dead_copy, system)

    row = ledger(engine, "wms")[("o-0", 2)]
    assert (again, row.status) == (Outcome.DUPLICATE, "dead"), (again, row.status, row.blocked_by)
    with engine.connect() as conn:
        letters = list_dead_letters(conn, DeadLetterFilter())
    report = dead_letters.requeue(engine, letters)
    assert [r.outcome for r in report.results] == ["requeued"]


def test_a_live_message_that_dies_while_a_chain_holds_its_aggregate_waits_behind_it(
    engine: sa.Engine,
) -> None:
    """The registry dead-letters a live (generation 0) message in a transaction of its own
    after its retries (actors.registry._transient/_failed → guard.dead_letter). A reprocess
    planned between its last attempt and that call holds the cursor: the message parks
    behind the chain instead (a block there would strand the chain, the live messages and
    every later replay), and is tried again once the chain is through."""
    system = delivered_orders(engine, aggregates=1, events_each=2)
    write_live_event(engine, "o-0", 3)
    (live,) = unpublished(engine, "wms")  # published, in its retry cycle
    replay_id, _ = replay.start(engine, "reprocess", ReplayFilter(orders=("o-0",)), created_by="t")
    assert dead_letter(engine, live, "failed 9 times while wms answered") is Outcome.PARKED
    replay.run(engine, replay_id)
    deliver_all(engine, "wms", system)  # the chain, then the live message it held

    held = cursor(engine, "wms", "o-0")
    assert held.replay_id is None and held.blocked_by is None
    assert system.applied[2:] == [("o-0", 1, 1), ("o-0", 2, 1), ("o-0", 3, 0)]
    with engine.connect() as conn:
        assert list_dead_letters(conn, DeadLetterFilter()) == []


def test_a_late_copy_of_a_purged_replay_step_is_dropped_not_applied(
    engine: sa.Engine,
) -> None:
    """docs/dead-letters.md: after a purge "a late copy of the purged message is then a
    duplicate, dropped". For a replay step the guard's dead/blocked check does not apply
    (generation > 0), the cursor's block is gone and the chain has passed it, so the copy
    reaches the handler: the document the operator gave up on is applied after its
    successors (or dies again and re-blocks the aggregate)."""
    system, dead_copy = _dying_step_2(engine)
    with engine.connect() as conn:
        letters = list_dead_letters(conn, DeadLetterFilter())
    dead_letters.purge(engine, letters, "the WMS has it already")
    deliver_all(engine, "wms", system)
    assert cursor(engine, "wms", "o-0").replay_id is None
    applied_before = list(system.applied)

    late = deliver(engine, dead_copy, system)

    assert (late, system.applied) == (Outcome.DUPLICATE, applied_before)
    assert ledger(engine, "wms")[("o-0", 2)].status == "dead"
