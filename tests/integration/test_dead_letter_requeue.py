"""`ordersync dlq requeue|purge` against real PostgreSQL, with the relay's own statements
and the consumer's guard taking the messages that go out again (tests/dead_letters.py)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from actors.guard import Outcome, deliver
from adapters.db.engine import raw_postgres_dsn
from ops import dead_letters as actions
from ops.cli import main
from outbox.envelope import Envelope
from outbox.writer import NOTIFY_CHANNEL
from tests.dead_letters import (
    Recorder,
    cursor,
    dead_letter_ids,
    kill_rejected,
    ledger,
    publish_all,
    relay_and_deliver,
    rows,
)
from tests.outbox_rows import envelopes, write_orders


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("ORDERSYNC_DATABASE_URL", database_url)
    return CliRunner()


def run(cli: CliRunner, *args: str, code: int = 0, input: str | None = None) -> Result:
    result = cli.invoke(main, list(args), input=input)
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return result


def as_json(result: Result) -> dict[str, Any]:
    return dict(json.loads(result.output))


def poisoned(engine: sa.Engine, aggregates: int, events_each: int = 3) -> list[Envelope]:
    """Every aggregate's first WMS message rejected (a dead letter), its later ones parked
    behind it; everything published, as the relay had done. Returns the WMS envelopes."""
    write_orders(engine, aggregates=aggregates, events_each=events_each)
    publish_all(engine)
    wms = envelopes(engine, "wms")
    for envelope in wms:
        if envelope.sequence == 1:
            kill_rejected(engine, envelope)
        else:
            assert deliver(engine, envelope, Recorder()) is Outcome.PARKED
    return wms


def applied_per_aggregate(system: Recorder) -> dict[str, list[int]]:
    """The sequences the system applied, per aggregate, in the order it applied them."""
    found: dict[str, list[int]] = {}
    for _, aggregate, sequence in system.applied:
        found.setdefault(aggregate, []).append(sequence)
    return found


def audit_entries(engine: sa.Engine, action: str) -> list[Any]:
    return rows(engine, "SELECT * FROM audit_log WHERE action = :a ORDER BY id", a=action)


def unchanged_since_poisoned(engine: sa.Engine, aggregates: list[str]) -> None:
    found = ledger(engine, "wms")
    for aggregate in aggregates:
        assert [found[(aggregate, s)].status for s in (1, 2, 3)] == ["dead", "parked", "parked"]
        assert cursor(engine, "wms", aggregate).blocked_by is not None
    assert {r.requeued_at for r in rows(engine, "SELECT * FROM dead_letters")} == {None}


def test_a_requeue_sends_the_dead_letter_again_and_its_parked_successors_follow_in_order(
    cli: CliRunner, engine: sa.Engine, database_url: str
) -> None:
    wms = poisoned(engine, aggregates=2)
    ids = dead_letter_ids(engine)
    listener = psycopg.connect(raw_postgres_dsn(database_url), autocommit=True)
    try:
        listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
        result = run(cli, "dlq", "requeue", str(ids[("wms", "o-0")]))
        assert "requeued 1 of 1 dead letters (wms: 1)" in result.output
        # The relay is woken (one that waits for NOTIFY would otherwise poll for it).
        assert [n.channel for n in listener.notifies(timeout=2, stop_after=1)] == [NOTIFY_CHANNEL]
    finally:
        listener.close()

    found = ledger(engine, "wms")
    assert (found[("o-0", 1)].status, found[("o-0", 1)].published_at) == ("pending", None)
    assert [found[("o-0", s)].status for s in (2, 3)] == ["parked", "parked"]  # at their turn
    assert cursor(engine, "wms", "o-0").blocked_by is None
    other_first = next(e for e in wms if (e.aggregate_id, e.sequence) == ("o-1", 1))
    assert cursor(engine, "wms", "o-1").blocked_by == other_first.event_id  # left alone
    (letter,) = rows(engine, "SELECT * FROM dead_letters WHERE aggregate_id = 'o-0'")
    assert letter.requeued_at is not None and letter.purged_at is None

    system = Recorder()
    delivered = relay_and_deliver(engine, system)
    assert delivered == [("o-0", 1, "applied"), ("o-0", 2, "applied"), ("o-0", 3, "applied")]
    assert system.applied == [("wms", "o-0", 1), ("wms", "o-0", 2), ("wms", "o-0", 3)]
    assert [ledger(engine, "wms")[("o-0", s)].status for s in (1, 2, 3)] == ["applied"] * 3
    assert cursor(engine, "wms", "o-0").last_sequence == 3
    assert [ledger(engine, "wms")[("o-1", s)].status for s in (1, 2, 3)] == [
        "dead",
        "parked",
        "parked",
    ]

    # Twice: found resolved, said so, nothing sent again.
    again = run(cli, "dlq", "requeue", str(ids[("wms", "o-0")]))
    assert "already requeued at" in again.output and "requeued 0 of 1" in again.output
    assert relay_and_deliver(engine, system) == []
    assert len(system.applied) == 3

    (first, second) = audit_entries(engine, "dlq.requeue")
    assert (first.outcome, first.dry_run, first.filter["ids"]) == (
        "ok",
        False,
        [ids[("wms", "o-0")]],
    )
    assert (first.counts["requeued"], first.counts["aggregates"]) == (1, 1)
    assert (second.counts["requeued"], second.counts["skipped"]) == (0, 1)


def test_a_filter_then_all_requeue_every_dead_letter_once(
    cli: CliRunner, engine: sa.Engine
) -> None:
    poisoned(engine, aggregates=3)
    with engine.begin() as conn:  # o-2's dead letter is an older one
        conn.execute(
            sa.text("UPDATE dead_letters SET created_at = '2026-01-01' WHERE aggregate_id = 'o-2'")
        )
    by_filter = as_json(
        run(cli, "dlq", "requeue", "--destination", "wms", "--since", "2026-06-01", "--json")
    )
    assert (by_filter["selected"], by_filter["requeued"]) == (2, 2)
    assert sorted(r["aggregate_id"] for r in by_filter["results"]) == ["o-0", "o-1"]
    assert {r["outcome"] for r in by_filter["results"]} == {"requeued"}
    everything = as_json(run(cli, "dlq", "requeue", "--all", "--json"))
    assert [r["aggregate_id"] for r in everything["results"]] == ["o-2"]  # only what was left
    assert as_json(run(cli, "dlq", "requeue", "--all", "--json"))["selected"] == 0

    system = Recorder()
    relay_and_deliver(engine, system)
    assert applied_per_aggregate(system) == {a: [1, 2, 3] for a in ("o-0", "o-1", "o-2")}
    statuses = {r.status for r in rows(engine, "SELECT status FROM outbox_deliveries")}
    assert "dead" not in statuses and "parked" not in statuses
    assert json.loads(run(cli, "dlq", "list", "--json").output) == []
    filters = [e.filter for e in audit_entries(engine, "dlq.requeue")]
    assert filters[0]["destinations"] == ["wms"] and filters[0]["since"].startswith("2026-06-01")
    assert [f["all"] for f in filters] == [False, True, True]


def test_a_requeued_message_that_dies_again_is_unresolved_again(
    cli: CliRunner, engine: sa.Engine
) -> None:
    poisoned(engine, aggregates=1)
    (letter_id,) = dead_letter_ids(engine).values()
    run(cli, "dlq", "requeue", str(letter_id))
    from adapters.systems.errors import PermanentError

    still_wrong = Recorder()
    still_wrong.fail[("o-0", 1)] = PermanentError("wms", "SKU A is blocked", status=422)
    assert relay_and_deliver(engine, still_wrong) == [("o-0", 1, "dead")]

    (letter,) = rows(engine, "SELECT * FROM dead_letters")
    assert letter.id == letter_id and letter.requeued_at is None
    # Its attempts started afresh at the requeue: the second death counts one.
    assert (letter.error, letter.attempts) == ("wms: SKU A is blocked (HTTP 422)", 1)
    listed = json.loads(run(cli, "dlq", "list", "--json").output)
    assert [(r["id"], r["state"]) for r in listed] == [(letter_id, "unresolved")]
    assert [ledger(engine, "wms")[("o-0", s)].status for s in (1, 2, 3)] == [
        "dead",
        "parked",
        "parked",
    ]
    assert cursor(engine, "wms", "o-0").blocked_by is not None  # blocked again


def lock_waiters(engine: sa.Engine) -> int:
    (found,) = rows(
        engine,
        "SELECT count(*) AS n FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'",
    )
    return int(found.n)


def test_two_requeues_of_one_dead_letter_at_once_send_it_once(engine: sa.Engine) -> None:
    """Both requeues wait for the aggregate's cursor lock (seen in pg_stat_activity, held
    here as a delivery would); the second one through finds it resolved."""
    poisoned(engine, aggregates=1)
    with engine.connect() as conn:
        letters = actions.select(conn, list(dead_letter_ids(engine).values()), None)
    reports: list[actions.Report] = []
    threads = [
        threading.Thread(target=lambda: reports.append(actions.requeue(engine, letters)))
        for _ in range(2)
    ]
    with engine.connect() as holder, holder.begin():
        holder.execute(
            sa.text("SELECT * FROM consumer_cursors WHERE aggregate_id = 'o-0' FOR UPDATE")
        )
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 10
        while lock_waiters(engine) < 2:
            assert time.monotonic() < deadline, "the requeues never waited for the cursor lock"
            time.sleep(0.005)
    for thread in threads:
        thread.join(10)
    outcomes = sorted(r.results[0].outcome.split(" at ")[0] for r in reports)
    assert outcomes == ["already requeued", "requeued"]
    system = Recorder()
    relay_and_deliver(engine, system)
    assert system.applied == [("wms", "o-0", 1), ("wms", "o-0", 2), ("wms", "o-0", 3)]


def test_a_dry_run_lists_what_would_go_and_changes_nothing(
    cli: CliRunner, engine: sa.Engine
) -> None:
    poisoned(engine, aggregates=2)
    report = as_json(run(cli, "dlq", "requeue", "--all", "--dry-run", "--json"))
    assert report["dry_run"] is True
    assert sorted(r["aggregate_id"] for r in report["selected"]) == ["o-0", "o-1"]
    text = run(cli, "dlq", "purge", "--all", "--dry-run", "--reason", "x").output
    assert "dry run: 2 dead letters would be purged; nothing changed" in text
    unchanged_since_poisoned(engine, ["o-0", "o-1"])
    assert relay_and_deliver(engine, Recorder()) == []
    (entry,) = audit_entries(engine, "dlq.requeue")
    assert (entry.dry_run, entry.outcome, entry.counts) == (True, "ok", {"selected": 2})


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ([], "none was given"),
        (["1", "--all"], "not IDs and --all together"),
        (["1", "--destination", "wms"], "not IDs and filters together"),
        (["--all", "--order", "o-0"], "not filters and --all together"),
        (["--destination", "erpp"], "'erpp' is not a destination"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else "",
)
def test_a_requeue_without_one_clear_selection_is_refused_and_changes_nothing(
    cli: CliRunner, engine: sa.Engine, args: list[str], says: str
) -> None:
    poisoned(engine, aggregates=1)
    result = run(cli, "dlq", "requeue", *args, code=2)
    assert says in result.output
    unchanged_since_poisoned(engine, ["o-0"])


def test_an_unknown_id_is_refused_nothing_changes_and_the_refusal_is_audited(
    cli: CliRunner, engine: sa.Engine
) -> None:
    poisoned(engine, aggregates=1)
    (letter_id,) = dead_letter_ids(engine).values()
    result = run(cli, "dlq", "requeue", str(letter_id), "999", code=1)
    assert "no dead letter with id 999; nothing changed" in result.output
    unchanged_since_poisoned(engine, ["o-0"])
    (entry,) = audit_entries(engine, "dlq.requeue")
    assert (entry.outcome, entry.detail) == (
        "refused",
        "no dead letter with id 999; nothing changed",
    )


def test_more_than_a_hundred_ask_first_unless_yes(cli: CliRunner, engine: sa.Engine) -> None:
    poisoned(engine, aggregates=101, events_each=1)
    declined = run(cli, "dlq", "requeue", "--all", input="n\n", code=1)
    assert "requeue 101 dead letters? [y/N]" in declined.output
    assert "not confirmed" in declined.output
    assert {r.status for r in ledger(engine, "wms").values()} == {"dead"}
    confirmed = run(cli, "dlq", "requeue", "--destination", "wms", input="y\n")
    assert "requeued 101 of 101" in confirmed.output
    run(cli, "dlq", "purge", "--all", "--reason", "none left", "--yes")  # nothing to ask about
    assert [
        (e.outcome, e.counts.get("requeued")) for e in audit_entries(engine, "dlq.requeue")
    ] == [
        ("refused", None),
        ("ok", 101),
    ]
    assert {r.status for r in ledger(engine, "wms").values()} == {"pending"}


# -- purge ----------------------------------------------------------------------------------


def test_a_purge_needs_a_reason_and_without_one_changes_nothing(
    cli: CliRunner, engine: sa.Engine
) -> None:
    poisoned(engine, aggregates=1)
    (letter_id,) = dead_letter_ids(engine).values()
    missing = run(cli, "dlq", "purge", str(letter_id), code=2)
    assert "Missing option '--reason'" in missing.output
    blank = run(cli, "dlq", "purge", str(letter_id), "--reason", "  ", code=2)
    assert "give the reason in words" in blank.output
    unchanged_since_poisoned(engine, ["o-0"])
    assert {r.purged_at for r in rows(engine, "SELECT * FROM dead_letters")} == {None}
    assert audit_entries(engine, "dlq.purge") == []


def test_a_purged_dead_letter_stays_dead_and_its_aggregate_goes_on_without_it(
    cli: CliRunner, engine: sa.Engine, database_url: str
) -> None:
    poisoned(engine, aggregates=2)
    ids = dead_letter_ids(engine)
    listener = psycopg.connect(raw_postgres_dsn(database_url), autocommit=True)
    try:
        listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
        result = run(
            cli, "dlq", "purge", str(ids[("wms", "o-0")]), "--reason", "order cancelled by phone"
        )
        assert [n.channel for n in listener.notifies(timeout=2, stop_after=1)] == [NOTIFY_CHANNEL]
    finally:
        listener.close()
    assert "purged 1 of 1 dead letters (wms: 1); 1 parked successors released" in result.output

    (letter,) = rows(engine, "SELECT * FROM dead_letters WHERE aggregate_id = 'o-0'")
    assert letter.purged_at is not None and letter.purge_reason == "order cancelled by phone"
    assert letter.requeued_at is None
    found = ledger(engine, "wms")
    assert found[("o-0", 1)].status == "dead"  # never applied, and the ledger says so
    assert (found[("o-0", 2)].status, found[("o-0", 2)].published_at) == ("pending", None)
    assert found[("o-0", 3)].status == "parked"  # released at its turn
    moved = cursor(engine, "wms", "o-0")
    assert (moved.last_sequence, moved.blocked_by) == (1, None)

    system = Recorder()
    assert relay_and_deliver(engine, system) == [("o-0", 2, "applied"), ("o-0", 3, "applied")]
    assert [s for _, a, s in system.applied if a == "o-0"] == [2, 3]
    assert [ledger(engine, "wms")[("o-1", s)].status for s in (1, 2, 3)] == [
        "dead",
        "parked",
        "parked",
    ]
    # The purged message delivered again (a late copy) is a duplicate, never applied.
    (first,) = [e for e in envelopes(engine, "wms") if (e.aggregate_id, e.sequence) == ("o-0", 1)]
    assert deliver(engine, first, system) is Outcome.DUPLICATE

    again = run(cli, "dlq", "purge", str(ids[("wms", "o-0")]), "--reason", "again")
    assert "already purged at" in again.output and "purged 0 of 1" in again.output
    entries = audit_entries(engine, "dlq.purge")
    assert [(e.outcome, e.counts["purged"]) for e in entries] == [("ok", 1), ("ok", 0)]
    assert entries[0].filter["reason"] == "order cancelled by phone"
    assert entries[0].detail == "order cancelled by phone"
    assert entries[0].counts["successors_released"] == 1
    trail = json.loads(run(cli, "audit", "list", "--action", "dlq.purge", "--json").output)
    assert [t["filter"]["reason"] for t in trail] == ["again", "order cancelled by phone"]


def test_a_purge_by_filter_lets_every_selected_aggregate_go_on(
    cli: CliRunner, engine: sa.Engine
) -> None:
    poisoned(engine, aggregates=3)
    report = as_json(
        run(
            cli,
            "dlq",
            "purge",
            "--order",
            "o-0",
            "--order",
            "o-2",
            "--error-class",
            "rejected",
            "--reason",
            "test orders",
            "--json",
        )
    )
    assert (report["purged"], report["aggregates"], report["successors_released"]) == (2, 2, 2)
    system = Recorder()
    relay_and_deliver(engine, system)
    assert applied_per_aggregate(system) == {"o-0": [2, 3], "o-2": [2, 3]}


def test_a_requeued_replay_dead_letter_goes_again_and_what_parked_behind_its_block_goes_on(
    cli: CliRunner, engine: sa.Engine
) -> None:
    """A reprocess replay (generation 1) of an applied message dies: it blocks the cursor
    while it lies behind it, so the live message parked behind the block waits for the
    block only; requeued, both go."""
    write_orders(engine, aggregates=1, events_each=2)
    publish_all(engine)
    first, second = envelopes(engine, "wms")
    system = Recorder()
    assert deliver(engine, first, system) is Outcome.APPLIED
    with engine.begin() as conn:  # the replay's selection: a new generation on the ledger
        conn.execute(
            sa.text(
                "UPDATE outbox_deliveries SET generation = 1"
                " WHERE event_id = :e AND destination = 'wms'"
            ),
            {"e": first.event_id},
        )
    kill_rejected(engine, first.model_copy(update={"generation": 1}))
    assert deliver(engine, second, system) is Outcome.PARKED
    (letter,) = rows(engine, "SELECT * FROM dead_letters")
    assert (letter.generation, cursor(engine, "wms", "o-0").last_sequence) == (1, 1)

    result = run(cli, "dlq", "requeue", str(letter.id))
    assert "1 parked successors released" in result.output
    assert relay_and_deliver(engine, system) == [("o-0", 1, "applied"), ("o-0", 2, "applied")]
    assert system.applied == [("wms", "o-0", 1), ("wms", "o-0", 1), ("wms", "o-0", 2)]
    assert cursor(engine, "wms", "o-0").last_sequence == 2
