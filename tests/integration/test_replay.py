"""Replays of outbox ranges against real PostgreSQL: what is selected, what is released,
and how the consumer's guard orders a reprocess (its chains, its hold on live events).

A relay stand-in here takes the unpublished rows of a destination as the relay would
(`published_at IS NULL`, id order), and the guard applies them with a recording handler;
the end-to-end tests (tests/e2e/test_replay_end_to_end.py) run the real relay and workers.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from actors.guard import Outcome, deliver
from adapters.db.engine import make_engine
from adapters.db.replays import ReplayError, ReplayFilter
from domain.events import DomainEvent, InventoryChanged, LocationStock
from ops import replay
from ops.cli import main
from ops.wiring import ROUTING
from outbox.envelope import Envelope
from outbox.messages import build
from outbox.relay_queries import deliveries_with_events
from outbox.tables import deliveries_table
from outbox.writer import write_events
from tests.outbox_rows import TRACE, order_events, write_orders


class Recorder:
    def __init__(self) -> None:
        self.applied: list[tuple[str, int, int]] = []  # aggregate, sequence, generation

    def __call__(self, envelope: Envelope) -> None:
        self.applied.append((envelope.aggregate_id, envelope.sequence, envelope.generation))


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(database_url, pool_size=4)
    yield engine
    engine.dispose()


def unpublished(engine: sa.Engine, destination: str) -> list[Envelope]:
    """What the relay would send to `destination` now, marked published as it would."""
    d = deliveries_table
    with engine.begin() as conn:
        rows = conn.execute(
            deliveries_with_events()
            .where(d.c.destination == destination, d.c.published_at.is_(None))
            .order_by(d.c.id)
        ).all()
        conn.execute(
            sa.text(
                "UPDATE outbox_deliveries SET published_at = now(),"
                " status = CASE WHEN status = 'pending' THEN 'published' ELSE status END"
                " WHERE id = ANY(:ids)"
            ),
            {"ids": [r.delivery_id for r in rows]},
        )
    return [Envelope.model_validate(json.loads(build(r).body)["args"][0]) for r in rows]


def deliver_all(engine: sa.Engine, destination: str, system: Recorder) -> list[Outcome]:
    """Deliver everything unpublished, again and again, until nothing is left."""
    outcomes = []
    while batch := unpublished(engine, destination):
        outcomes += [deliver(engine, envelope, system) for envelope in batch]
    return outcomes


def ledger(engine: sa.Engine, destination: str) -> dict[tuple[str, int], Any]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT * FROM outbox_deliveries WHERE destination = :d"), {"d": destination}
        )
        return {(r.aggregate_id, r.sequence): r for r in rows}


def cursor(engine: sa.Engine, destination: str, aggregate: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT * FROM consumer_cursors WHERE destination = :d AND aggregate_id = :a"),
            {"d": destination, "a": aggregate},
        ).one()


def delivered_orders(engine: sa.Engine, aggregates: int = 3, events_each: int = 3) -> Recorder:
    """Orders o-0…, every wms message applied once (generation 0)."""
    write_orders(engine, aggregates=aggregates, events_each=events_each)
    system = Recorder()
    deliver_all(engine, "wms", system)
    assert len(system.applied) == aggregates * events_each
    return system


def run_replay(engine: sa.Engine, mode: str, flt: ReplayFilter, **kw: Any) -> replay.ReplaySummary:
    replay_id, _ = replay.start(engine, mode, flt, created_by="test")
    return replay.run(engine, replay_id, **kw)


def write_live_event(engine: sa.Engine, aggregate: str, version: int) -> None:
    event = order_events(aggregate, version)[version - 1]
    with engine.begin() as conn:
        write_events(conn, [event], TRACE, lambda: ["web"], routing=ROUTING)


# -- what a replay selects ---------------------------------------------------------------


def test_a_dry_run_counts_what_would_go_and_changes_nothing(engine: sa.Engine) -> None:
    delivered_orders(engine)
    before = ledger(engine, "wms")
    selection = replay.preview(engine, "reprocess", ReplayFilter(orders=("o-0", "o-1")))
    counts = selection.counts()
    assert counts["total"] == 6
    assert counts["by_destination"] == {"wms": 6}
    assert counts["by_event_type"] == {"order.allocated": 4, "order.backordered": 2}
    assert counts["orders"] == 2
    assert counts["first_event_id"] < counts["last_event_id"]
    after = ledger(engine, "wms")
    assert {k: (r.published_at, r.generation, r.replay_id) for k, r in after.items()} == {
        k: (r.published_at, r.generation, r.replay_id) for k, r in before.items()
    }
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM replays")).scalar_one() == 0


def test_the_filters_combine(engine: sa.Engine) -> None:
    delivered_orders(engine, aggregates=4)
    deliver_all(engine, "channel:web", Recorder())
    with engine.connect() as conn:
        ids = [r.id for r in conn.execute(sa.text("SELECT id FROM outbox_events ORDER BY id"))]
    every = replay.preview(engine, "redeliver", ReplayFilter()).total
    wms_only = replay.preview(engine, "redeliver", ReplayFilter(destinations=("wms",))).total
    by_type = replay.preview(
        engine, "redeliver", ReplayFilter(event_types=("order.backordered",), orders=("o-3",))
    )
    ranged = replay.preview(engine, "redeliver", ReplayFilter(from_id=ids[2], to_id=ids[5]))
    assert wms_only == 12 and every > wms_only  # backordered events also go to channel:web
    assert by_type.total == 2 and by_type.orders == {"o-3"}  # wms and channel:web
    assert ranged.first_id == ids[2] and ranged.last_id == ids[5]


def test_statuses_a_mode_cannot_take_are_refused_with_what_to_use_instead(
    engine: sa.Engine,
) -> None:
    with pytest.raises(ReplayError, match="dlq requeue"):
        replay.preview(engine, "reprocess", ReplayFilter(statuses=("dead",)))
    with pytest.raises(ReplayError, match="on their way"):
        replay.preview(engine, "redeliver", ReplayFilter(statuses=("pending",)))


def test_stock_figures_replay_as_the_current_state_never_an_older_one(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        for version, atp in enumerate((5, 4, 3), start=1):
            figure = InventoryChanged(
                sku="TEE",
                atp=atp,
                locations=[LocationStock(location="WH", on_hand=atp, reserved=0, atp=atp)],
            )
            write_events(
                conn, [DomainEvent(figure, version, None)], TRACE, lambda: ["web"], routing=ROUTING
            )
    system = Recorder()
    deliver_all(engine, "channel:web", system)
    assert system.applied == [("TEE", 3, 0)]  # the older two were superseded
    # A range that caught only the oldest figure still sends the newest.
    with engine.connect() as conn:
        first = conn.execute(sa.text("SELECT min(id) FROM outbox_events")).scalar_one()
    flt = ReplayFilter(to_id=first, destinations=("channel:web",))
    selection = replay.preview(engine, "reprocess", flt)
    assert selection.total == 1
    run_replay(engine, "reprocess", flt)
    deliver_all(engine, "channel:web", system)
    assert system.applied == [("TEE", 3, 0), ("TEE", 3, 1)]


# -- redeliver -----------------------------------------------------------------------------


def test_redelivering_a_delivered_range_sends_nothing_new(engine: sa.Engine) -> None:
    system = delivered_orders(engine)
    summary = run_replay(engine, "redeliver", ReplayFilter(destinations=("wms",)))
    assert (summary.state, summary.total, summary.released) == ("done", 9, 9)
    outcomes = deliver_all(engine, "wms", system)
    assert outcomes == [Outcome.DUPLICATE] * 9
    assert len(system.applied) == 9  # nothing applied twice
    assert {r.status for r in ledger(engine, "wms").values()} == {"applied"}


def test_redelivering_fills_in_what_never_arrived(engine: sa.Engine) -> None:
    write_orders(engine, aggregates=1, events_each=3)
    system = Recorder()
    lost = unpublished(engine, "wms")  # published, but the broker lost the last two
    deliver(engine, lost[0], system)
    run_replay(engine, "redeliver", ReplayFilter(orders=("o-0",)))
    deliver_all(engine, "wms", system)
    assert system.applied == [("o-0", 1, 0), ("o-0", 2, 0), ("o-0", 3, 0)]


# -- reprocess: chains in order, live events held ------------------------------------------


def test_a_reprocess_applies_each_chain_again_in_order_whatever_order_it_arrives_in(
    engine: sa.Engine,
) -> None:
    system = delivered_orders(engine)
    run_replay(engine, "reprocess", ReplayFilter(orders=("o-1",)))
    released = unpublished(engine, "wms")
    assert [(e.sequence, e.generation) for e in released] == [(1, 1), (2, 1), (3, 1)]
    outcomes = [deliver(engine, e, system) for e in reversed(released)]  # worst order
    assert outcomes[:2] == [Outcome.PARKED, Outcome.PARKED]
    deliver_all(engine, "wms", system)  # the parked steps come out one after the other
    assert system.applied[9:] == [("o-1", 1, 1), ("o-1", 2, 1), ("o-1", 3, 1)]
    held = cursor(engine, "wms", "o-1")
    assert (held.replay_id, held.last_sequence) == (None, 3)  # the hold is over


def test_a_new_event_of_an_order_being_reprocessed_waits_for_the_replay(
    engine: sa.Engine,
) -> None:
    system = delivered_orders(engine, aggregates=1, events_each=3)
    replay_id, _ = replay.start(engine, "reprocess", ReplayFilter(orders=("o-0",)), created_by="t")
    write_live_event(engine, "o-0", 4)  # a new event while the replay has not released yet
    (live,) = unpublished(engine, "wms")
    assert deliver(engine, live, system) is Outcome.PARKED  # held behind the replay
    replay.run(engine, replay_id)
    deliver_all(engine, "wms", system)
    assert system.applied[3:] == [("o-0", 1, 1), ("o-0", 2, 1), ("o-0", 3, 1), ("o-0", 4, 0)]
    assert ledger(engine, "wms")[("o-0", 4)].status == "applied"


def test_reprocessing_twice_applies_twice_under_new_keys(engine: sa.Engine) -> None:
    system = delivered_orders(engine, aggregates=1, events_each=2)
    for _ in range(2):
        run_replay(engine, "reprocess", ReplayFilter(orders=("o-0",)))
        deliver_all(engine, "wms", system)
    assert [g for _, _, g in system.applied] == [0, 0, 1, 1, 2, 2]
    with engine.connect() as conn:
        keys = conn.execute(
            sa.text("SELECT count(*) FROM inbox WHERE destination = 'wms'")
        ).scalar_one()
    assert keys == 6  # one inbox row per (event, generation)


# -- checkpoints: interrupt, resume, cancel -------------------------------------------------


def test_an_interrupted_replay_resumes_from_its_checkpoint_releasing_each_row_once(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    delivered_orders(engine, aggregates=40, events_each=3)  # 120 wms rows
    monkeypatch.setattr(replay, "MAX_BATCH", 25)
    stop = threading.Event()
    seen: list[int] = []

    def progress(done: int, total: int) -> None:
        seen.append(done)
        if done >= 50:
            stop.set()  # Ctrl-C after the second batch

    replay_id, _ = replay.start(engine, "reprocess", ReplayFilter(), created_by="t")
    first = replay.run(engine, replay_id, progress=progress, stop=stop)
    assert (first.state, first.released) == ("interrupted", 50)
    again = replay.run(engine, replay_id)
    assert (again.state, again.released) == ("done", first.total)
    with engine.connect() as conn:
        generations = conn.execute(
            sa.text(
                "SELECT generation, count(*) FROM outbox_deliveries WHERE replay_id = :r"
                " GROUP BY generation"
            ),
            {"r": replay_id},
        ).all()
    assert dict(generations) == {1: first.total}  # every row released once, none twice


def test_a_second_runner_of_the_same_replay_is_refused(engine: sa.Engine) -> None:
    delivered_orders(engine, aggregates=1)
    replay_id, _ = replay.start(engine, "redeliver", ReplayFilter(), created_by="t")
    with engine.connect() as holder:
        holder.execute(
            sa.text("SELECT pg_advisory_lock(:a, :b)"), {"a": replay._RUN_LOCK, "b": replay_id}
        )
        with pytest.raises(ReplayError, match="another process"):
            replay.run(engine, replay_id)
        holder.rollback()


def test_replays_run_one_at_a_time(engine: sa.Engine) -> None:
    delivered_orders(engine, aggregates=1)
    first, _ = replay.start(engine, "reprocess", ReplayFilter(), created_by="t")
    with pytest.raises(ReplayError, match=f"replay {first} is running"):
        replay.start(engine, "redeliver", ReplayFilter(), created_by="t")
    replay.run(engine, first)
    with pytest.raises(ReplayError, match="still being delivered"):  # its chains are held
        replay.start(engine, "redeliver", ReplayFilter(), created_by="t")


def test_cancelling_cuts_each_chain_to_what_was_released_and_frees_the_held(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    system = delivered_orders(engine, aggregates=2, events_each=3)
    monkeypatch.setattr(replay, "MAX_BATCH", 2)
    stop = threading.Event()
    replay_id, _ = replay.start(engine, "reprocess", ReplayFilter(), created_by="t")
    write_live_event(engine, "o-1", 4)
    (live,) = unpublished(engine, "wms")
    assert deliver(engine, live, system) is Outcome.PARKED
    summary = replay.run(engine, replay_id, progress=lambda done, _: done and stop.set(), stop=stop)
    assert summary.released == 2  # each order's first step (their events interleave by id)
    counts = replay.cancel(engine, replay_id)
    assert counts["chains cut"] == 2
    deliver_all(engine, "wms", system)
    replayed = [a for a in system.applied[6:] if a[2] == 1]
    assert sorted(replayed) == [("o-0", 1, 1), ("o-1", 1, 1)]  # what was released, no more
    assert ("o-1", 4, 0) in system.applied  # the held live event went after all
    assert cursor(engine, "wms", "o-0").replay_id is None
    assert cursor(engine, "wms", "o-1").replay_id is None


# -- the command ----------------------------------------------------------------------------


def cli(database_url: str, *args: str, input: str | None = None) -> Any:
    env = {"ORDERSYNC_DATABASE_URL": database_url, "ORDERSYNC_OPERATOR": "ops-anna"}
    return CliRunner().invoke(main, list(args), env=env, input=input)


def test_the_command_dry_runs_replays_lists_and_audits(
    database_url: str, engine: sa.Engine
) -> None:
    delivered_orders(engine, aggregates=2)
    dry = cli(
        database_url, "outbox", "replay", "--reprocess", "--order", "o-0", "--dry-run", "--json"
    )
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.output)["total"] == 3
    done = cli(database_url, "outbox", "replay", "--reprocess", "--order", "o-0", "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.output.splitlines()[-1])["released"] == 3
    listed = json.loads(cli(database_url, "outbox", "replays", "--json").output)
    assert [(r["mode"], r["state"], r["total"]) for r in listed] == [("reprocess", "done", 3)]
    audit = json.loads(cli(database_url, "audit", "list", "--json").output)
    assert [(a["action"], a["dry_run"], a["outcome"], a["actor"]) for a in audit] == [
        ("outbox.replay", False, "ok", "ops-anna"),
        ("outbox.replay", True, "ok", "ops-anna"),
    ]
    assert audit[0]["counts"]["total"] == 3


def test_the_command_refuses_bad_input_and_changes_nothing(
    database_url: str, engine: sa.Engine
) -> None:
    delivered_orders(engine, aggregates=1)
    before = ledger(engine, "wms")
    for args, message in (
        (["--order", "o-0"], "--redeliver or --reprocess"),
        (["--reprocess", "--destination", "ftp"], "not a destination"),
        (["--reprocess", "--event-type", "order.teleported"], "unknown event type"),
        (["--reprocess", "--status", "dead"], "dlq requeue"),
        (["--reprocess", "--from-id", "9", "--to-id", "2"], "after --to-id"),
        (["--resume", "1", "--reprocess"], "nothing else"),
        (["--resume", "999"], "no replay 999"),
    ):
        result = cli(database_url, "outbox", "replay", *args)
        assert result.exit_code != 0 and message in result.output, (args, result.output)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM replays")).scalar_one() == 0
    assert ledger(engine, "wms") == before


def test_a_big_replay_asks_first(database_url: str, engine: sa.Engine, monkeypatch: Any) -> None:
    from ops.commands import replay as command

    delivered_orders(engine, aggregates=2)
    monkeypatch.setattr(command, "CONFIRM_ABOVE", 5)
    declined = cli(database_url, "outbox", "replay", "--redeliver", input="n\n")
    assert declined.exit_code != 0 and "replay 6 messages" in declined.output
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM replays")).scalar_one() == 0


def test_a_rate_bounds_how_fast_rows_are_released(engine: sa.Engine) -> None:
    delivered_orders(engine, aggregates=10, events_each=3)  # 30 wms rows
    began = time.monotonic()
    summary = run_replay(engine, "redeliver", ReplayFilter(destinations=("wms",)), rate=50)
    took = time.monotonic() - began
    assert summary.released == 30
    assert took >= 30 / 50  # at least as long as its count says


# -- a chain step that dies -------------------------------------------------------------------


def test_a_reprocessed_step_that_dies_holds_its_chain_until_requeued_or_purged(
    engine: sa.Engine,
) -> None:
    from adapters.db.dead_letters import DeadLetterFilter, list_dead_letters
    from adapters.systems.errors import PermanentError
    from ops import dead_letters

    system = delivered_orders(engine, aggregates=1, events_each=3)
    replay_id, _ = replay.start(engine, "reprocess", ReplayFilter(orders=("o-0",)), created_by="t")
    write_live_event(engine, "o-0", 4)
    replay.run(engine, replay_id)

    def rejecting_step_2(envelope: Envelope) -> None:
        if envelope.generation == 1 and envelope.sequence == 2:
            raise PermanentError("rejected (HTTP 422)")
        system(envelope)

    while batch := unpublished(engine, "wms"):
        for envelope in batch:
            deliver(engine, envelope, rejecting_step_2)
    statuses = {k: r.status for k, r in ledger(engine, "wms").items()}
    assert statuses == {
        ("o-0", 1): "applied",
        ("o-0", 2): "dead",
        ("o-0", 3): "parked",  # the chain's next step, behind the dead one
        ("o-0", 4): "parked",  # the live event, behind the hold
    }
    with engine.connect() as conn:
        letters = list_dead_letters(conn, DeadLetterFilter())
    report = dead_letters.purge(engine, letters, "the ERP has it already")
    assert report.released == 1
    deliver_all(engine, "wms", system)
    assert system.applied[3:] == [("o-0", 1, 1), ("o-0", 3, 1), ("o-0", 4, 0)]
    assert cursor(engine, "wms", "o-0").replay_id is None
