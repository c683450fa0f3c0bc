"""Retention against real PostgreSQL: `ordersync outbox prune` and `ordersync maintenance`
delete exactly what is old and final, in bounded batches, audited, and refuse an age shorter
than the dedup window."""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from adapters.db.operations_tables import REPLAY_STATES
from ops.cli import main
from tests.retention_rows import (
    Seeded,
    add_audit_row,
    add_dead_letter,
    add_event,
    add_replay,
    block_cursor,
    counts,
    digest,
    surviving_events,
)

DAY = timedelta(days=1)
OLD = 30 * DAY
PRUNED_TABLES = ("outbox_events", "outbox_deliveries", "inbox", "dead_letters", "audit_log")
KEPT_TABLES = ("consumer_cursors", "outbox_sequences", "replays")


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("ORDERSYNC_DATABASE_URL", database_url)
    for name in ("DEDUP_WINDOW", "RETENTION_OUTBOX", "RETENTION_DEAD_LETTERS", "RETENTION_AUDIT"):
        monkeypatch.delenv(f"ORDERSYNC_{name}", raising=False)
    return CliRunner()


@dataclass
class Ledger:
    gone: dict[str, Seeded]
    kept: dict[str, Seeded]

    def name(self, event_id: uuid.UUID) -> str:
        return next(n for n, s in {**self.gone, **self.kept}.items() if s.event_id == event_id)


@pytest.fixture
def ledger(engine: sa.Engine) -> Ledger:
    """Events of every state, old and new; with --older-than 7d exactly `gone` may go."""
    with engine.begin() as conn:
        replays = {state: add_replay(conn, state) for state in REPLAY_STATES}
        gone = {
            "applied everywhere": add_event(conn, age=OLD),
            "one delivery superseded": add_event(conn, age=OLD, statuses={"wms": "superseded"}),
            "dead, purged long ago": add_event(conn, age=OLD, statuses={"crm": "dead"}),
            "selected by a done replay": add_event(conn, age=OLD, replay_id=replays["done"]),
            "selected by a cancelled replay": add_event(
                conn, age=OLD, replay_id=replays["cancelled"]
            ),
            "just past the cutoff": add_event(conn, age=8 * DAY),
        }
        add_dead_letter(conn, gone["dead, purged long ago"], "crm", purged=20 * DAY)
        kept = {
            status: add_event(conn, age=OLD, statuses={"erp": status})
            for status in ("pending", "published", "waiting", "parked")
        }
        for case in ("open", "requeued only", "blocking its cursor", "purged lately", "absent"):
            kept[f"dead, its dead letter {case}"] = add_event(
                conn, age=OLD, statuses={"crm": "dead"}
            )
        add_dead_letter(conn, kept["dead, its dead letter open"], "crm")
        add_dead_letter(conn, kept["dead, its dead letter requeued only"], "crm", requeued=OLD)
        add_dead_letter(conn, kept["dead, its dead letter blocking its cursor"], "crm", purged=OLD)
        block_cursor(conn, kept["dead, its dead letter blocking its cursor"], "crm")
        add_dead_letter(conn, kept["dead, its dead letter purged lately"], "crm", purged=DAY)
        kept["applied, changed lately"] = add_event(conn, age=OLD, changed=DAY)
        for state in ("running", "interrupted"):
            kept[f"selected by an {state} replay"] = add_event(
                conn, age=OLD, replay_id=replays[state]
            )
        kept["new"] = add_event(conn, age=DAY)
    return Ledger(gone, kept)


# What `ledger`'s gone events hold: 6 events × 4 deliveries, an inbox row for each delivery
# applied or superseded (the dead one has none).
GONE_ROWS = {"outbox_events": 6, "outbox_deliveries": 24, "inbox": 23}


def test_prune_deletes_exactly_the_old_final_events_with_their_ledger_and_inbox_rows(
    cli: CliRunner, engine: sa.Engine, ledger: Ledger
) -> None:
    with engine.connect() as conn:
        before, kept_rows = counts(conn), digest(conn, *KEPT_TABLES)
    result = cli.invoke(main, ["outbox", "prune", "--older-than", "7d", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    with engine.connect() as conn:
        survivors, after = surviving_events(conn), counts(conn)
        kept_ids = [i for s in ledger.kept.values() for i in s.deliveries.values()]
        kept_deliveries = conn.execute(
            sa.text("SELECT count(*) FROM outbox_deliveries WHERE id = ANY(:ids)"),
            {"ids": kept_ids},
        ).scalar_one()
        assert digest(conn, *KEPT_TABLES) == kept_rows  # cursors, sequences, replays
    expected = {s.event_id for s in ledger.kept.values()}
    assert sorted(map(ledger.name, survivors ^ expected)) == []
    assert kept_deliveries == len(kept_ids) == 4 * len(ledger.kept)
    assert report["rows"] == {
        **GONE_ROWS,
        "dead_letters": 0,
        "audit_log": 0,
        "inbound_deliveries": 0,
    }
    assert {t: before[t] - after[t] for t in GONE_ROWS} == GONE_ROWS
    assert after["dead_letters"] == before["dead_letters"]  # not asked for
    assert report["batches"] == {"outbox": 1} and report["largest_batch"] == {"outbox": 6}
    assert report["dry_run"] is False and report["interrupted"] is False
    assert set(report["vacuumed"]) == set(GONE_ROWS)


def test_a_dry_run_counts_what_the_prune_then_deletes_and_changes_nothing(
    cli: CliRunner, engine: sa.Engine, ledger: Ledger
) -> None:
    with engine.connect() as conn:
        before = digest(conn, *PRUNED_TABLES[:-1], *KEPT_TABLES)
    dry = cli.invoke(main, ["outbox", "prune", "--older-than", "7d", "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    with engine.connect() as conn:
        assert digest(conn, *PRUNED_TABLES[:-1], *KEPT_TABLES) == before
    real = cli.invoke(main, ["outbox", "prune", "--older-than", "7d", "--json"])
    assert json.loads(dry.output)["rows"] == json.loads(real.output)["rows"]
    assert json.loads(dry.output)["rows"]["outbox_events"] == 6
    assert json.loads(dry.output)["vacuumed"] == []

    trail = json.loads(cli.invoke(main, ["audit", "list", "--json"]).output)
    assert [(a["action"], a["dry_run"], a["outcome"]) for a in trail] == [
        ("outbox.prune", False, "ok"),
        ("outbox.prune", True, "ok"),
    ]
    assert trail[0]["counts"] == {
        **GONE_ROWS,
        "dead_letters": 0,
        "audit_log": 0,
        "inbound_deliveries": 0,
        "batches": 1,
    }
    assert trail[0]["filter"] == {
        "command": "outbox prune",
        "outbox_older_than": "7d",
        "dedup_window": "7d",
        "batch": 1000,
    }


@pytest.mark.parametrize(
    ("environment", "command", "named"),
    [
        ({}, ["outbox", "prune", "--older-than", "6d"], "--older-than 6d"),
        (
            {"ORDERSYNC_DEDUP_WINDOW": "40d"},
            ["outbox", "prune", "--older-than", "30d", "--audit-older-than", "1d"],
            "--older-than 30d",
        ),
        (
            {"ORDERSYNC_RETENTION_OUTBOX": "3d"},
            ["maintenance", "--once"],
            "ORDERSYNC_RETENTION_OUTBOX=3d",
        ),
    ],
    ids=["option", "longer window", "maintenance"],
)
def test_an_age_shorter_than_the_dedup_window_is_refused_and_deletes_nothing(
    cli: CliRunner,
    engine: sa.Engine,
    ledger: Ledger,
    monkeypatch: pytest.MonkeyPatch,
    environment: dict[str, str],
    command: list[str],
    named: str,
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with engine.begin() as conn:
        add_audit_row(conn, 400 * DAY)  # old enough for any audit age asked
        before = digest(conn, *PRUNED_TABLES, *KEPT_TABLES)
    result = cli.invoke(main, command)
    assert result.exit_code == 1, result.output
    window = environment.get("ORDERSYNC_DEDUP_WINDOW", "7d")
    assert f"refused: {named} is shorter than the dedup window" in result.output
    assert f"(ORDERSYNC_DEDUP_WINDOW={window})" in result.output
    assert "Nothing was deleted" in result.output and "Traceback" not in result.output
    with engine.connect() as conn:
        assert digest(conn, *PRUNED_TABLES[:-1], *KEPT_TABLES) == {
            t: v for t, v in before.items() if t != "audit_log"
        }
        assert counts(conn)["audit_log"] == 2  # the old row, and the refusal's own
    refusal = json.loads(cli.invoke(main, ["audit", "list", "--json"]).output)[0]
    assert (refusal["action"], refusal["outcome"]) == ("outbox.prune", "refused")
    assert "shorter than the dedup window" in refusal["detail"]


def test_a_longer_dedup_window_than_the_default_is_the_bar(
    cli: CliRunner, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORDERSYNC_DEDUP_WINDOW", "2d")
    result = cli.invoke(main, ["outbox", "prune", "--older-than", "2d", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["rows"]["outbox_events"] == 6  # the new one is 1 day old


def test_every_batch_deletes_at_most_the_batch_size(cli: CliRunner, engine: sa.Engine) -> None:
    """A statement trigger counts the rows each DELETE removed from the events and the audit
    log: 25 of each in batches of 10 are three statements of 10, 10 and 5."""
    with engine.begin() as conn:
        conn.execute(
            sa.text("""
            CREATE TABLE deleted_per_statement (id serial, tbl text, n int);
            CREATE FUNCTION count_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO deleted_per_statement (tbl, n) SELECT TG_TABLE_NAME, count(*) FROM gone;
                RETURN NULL;
            END $$;
            CREATE TRIGGER count_deleted AFTER DELETE ON outbox_events
                REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION count_deleted();
            CREATE TRIGGER count_deleted AFTER DELETE ON audit_log
                REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION count_deleted();
            """)
        )
        for _ in range(25):
            add_event(conn, age=OLD)
            add_audit_row(conn, 2 * OLD)
    ages = ["--older-than", "7d", "--audit-older-than", "30d"]
    result = cli.invoke(main, ["outbox", "prune", *ages, "--batch", "10", "--json"])
    assert result.exit_code == 0, result.output
    with engine.connect() as conn:
        statements = conn.execute(
            sa.text("SELECT tbl, n FROM deleted_per_statement ORDER BY id")
        ).all()
    assert [tuple(s) for s in statements] == [
        *[("outbox_events", n) for n in (10, 10, 5)],
        *[("audit_log", n) for n in (10, 10, 5)],
    ]
    report = json.loads(result.output)
    assert report["batches"] == {"outbox": 3, "audit": 3}
    assert report["largest_batch"]["outbox"] == report["largest_batch"]["audit"] == 10
    assert report["rows"]["outbox_events"] == report["rows"]["audit_log"] == 25


def test_resolved_dead_letters_go_past_their_age_unless_their_ledger_row_is_still_dead(
    cli: CliRunner, engine: sa.Engine
) -> None:
    with engine.begin() as conn:
        applied_since = add_event(conn, age=OLD, changed=DAY)  # requeued, then delivered
        dead_again = add_event(conn, age=OLD, changed=DAY, statuses={"erp": "dead"})
        ledger_pruned = add_event(conn, age=OLD, statuses={"crm": "dead"})
        ledger_kept = add_event(conn, age=OLD, statuses={"crm": "dead", "erp": "pending"})
        gone = {
            add_dead_letter(conn, applied_since, "erp", requeued=40 * DAY),
            add_dead_letter(conn, ledger_pruned, "crm", purged=40 * DAY),
        }
        kept = {
            add_dead_letter(conn, dead_again, "erp", requeued=40 * DAY),
            add_dead_letter(conn, ledger_kept, "crm", purged=40 * DAY),
            add_dead_letter(conn, applied_since, "wms", purged=10 * DAY),  # not old enough
            add_dead_letter(conn, applied_since, "crm"),  # never resolved
        }
    result = cli.invoke(
        main,
        ["outbox", "prune", "--older-than", "7d", "--dead-letters-older-than", "30d", "--json"],
    )
    assert result.exit_code == 0, result.output
    with engine.connect() as conn:
        left = set(conn.execute(sa.text("SELECT id FROM dead_letters")).scalars())
    assert left == kept and not gone & left
    report = json.loads(result.output)
    # the outbox goes first: its purged dead delivery leaves, then its dead letter can
    assert report["rows"]["outbox_events"] == 1 and report["rows"]["dead_letters"] == 2


def test_maintenance_once_runs_every_prune_with_the_configured_ages_and_audits_it(
    cli: CliRunner,
    engine: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("ORDERSYNC_RETENTION_OUTBOX", "10d")
    monkeypatch.setenv("ORDERSYNC_RETENTION_DEAD_LETTERS", "30d")
    monkeypatch.setenv("ORDERSYNC_RETENTION_AUDIT", "90d")
    with engine.begin() as conn:
        old = [add_event(conn, age=20 * DAY) for _ in range(2)]
        old.append(add_event(conn, age=20 * DAY, statuses={"crm": "dead"}))
        add_dead_letter(conn, old[-1], "crm", purged=40 * DAY)
        young = add_event(conn, age=9 * DAY)
        audit_ids = [add_audit_row(conn, age) for age in (100 * DAY, 91 * DAY, 10 * DAY)]
    caplog.set_level(logging.INFO, logger="ordersync.maintenance")
    result = cli.invoke(main, ["maintenance", "--once", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["rows"] == {
        "outbox_events": 3,
        "outbox_deliveries": 12,
        "inbox": 11,
        "dead_letters": 1,
        "audit_log": 2,
        "inbound_deliveries": 0,
    }
    assert [r.getMessage() for r in caplog.records if r.name == "ordersync.maintenance"] == [
        "outbox prune: deleted 3 events, 12 ledger rows and 11 inbox rows older than 10d, "
        "in 1 batch",
        "dead letters prune: deleted 1 dead letters resolved more than 30d ago, in 1 batch",
        "audit prune: deleted 2 audit rows older than 90d, in 1 batch",
        "raw payloads prune: deleted the raw bodies of 0 inbound deliveries applied more "
        "than 90d ago, in 0 batches",
    ]
    with engine.connect() as conn:
        assert surviving_events(conn) == {young.event_id}
        left = set(conn.execute(sa.text("SELECT id FROM audit_log")).scalars())
    assert audit_ids[2] in left and not {audit_ids[0], audit_ids[1]} & left
    entry = json.loads(cli.invoke(main, ["audit", "list", "--json"]).output)[0]
    assert (entry["action"], entry["outcome"], entry["dry_run"]) == ("outbox.prune", "ok", False)
    assert entry["counts"] == {**report["rows"], "batches": 3}
    assert entry["filter"] == {
        "command": "maintenance",
        "outbox_older_than": "10d",
        "dead_letters_older_than": "30d",
        "audit_older_than": "90d",
        "raw_payloads_older_than": "90d",
        "dedup_window": "7d",
        "batch": 1000,
    }


def test_retention_on_an_unmigrated_database_says_to_run_db_upgrade(
    monkeypatch: pytest.MonkeyPatch, empty_database_url: str
) -> None:
    monkeypatch.setenv("ORDERSYNC_DATABASE_URL", empty_database_url)
    result = CliRunner().invoke(main, ["outbox", "prune", "--older-than", "7d"])
    assert result.exit_code == 1
    assert "ordersync db upgrade" in result.output and "Traceback" not in result.output
