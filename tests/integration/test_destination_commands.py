"""`ordersync destination list|pause|resume` against real PostgreSQL: every destination
with its breaker and backlog figures; pause and resume audited."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from rich.console import Console

from actors.guard import Outcome, deliver
from actors.systems import SYSTEMS
from adapters.db import breakers, registry
from ops.commands import support
from outbox.envelope import Envelope
from tests.cli_runs import run
from tests.dead_letters import Recorder, kill_rejected, publish_all, rows
from tests.outbox_rows import envelopes, write_orders


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("ORDERSYNC_DATABASE_URL", database_url)
    return CliRunner()


def seq(envelope: Envelope) -> int:
    return envelope.sequence


def destinations(cli: CliRunner) -> dict[str, dict[str, Any]]:
    listed = json.loads(run(cli, "destination", "list", "--json").output)
    return {row["destination"]: row for row in listed}


def test_every_destination_is_listed_with_its_breaker_and_backlog(
    cli: CliRunner, engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with engine.begin() as conn:
        registry.add_channel(conn, "web", "canonical")
        registry.add_channel(conn, "old", "canonical")
        conn.execute(sa.text("UPDATE channels SET disabled_at = now() WHERE name = 'old'"))
        breakers.set_breaker(conn, "threepl", "open", "connection refused", retry_after_s=600)
    # o-0, o-1: WMS #1, #2, #3 and channel:web #1 each, all pending.
    write_orders(engine, aggregates=2, events_each=3)
    publish_all(engine)  # published, none applied yet
    wms = envelopes(engine, "wms")
    first = {e.aggregate_id: e for e in wms if e.sequence == 1}
    kill_rejected(engine, first["o-0"])  # dead, not backlog
    for e in wms:
        if e.aggregate_id == "o-0" and e.sequence > 1:
            assert deliver(engine, e, Recorder()) is Outcome.PARKED  # 2 parked
    assert deliver(engine, first["o-1"], Recorder()) is Outcome.APPLIED  # o-1 #2 #3 published
    run(cli, "destination", "pause", "wms", "--reason", "stock take")
    later = sorted((e for e in wms if e.aggregate_id == "o-1" and e.sequence > 1), key=seq)
    assert deliver(engine, later[0], Recorder()) is Outcome.WAITING  # the WMS is paused
    assert deliver(engine, later[1], Recorder()) is Outcome.PARKED  # behind the waiting one
    with engine.begin() as conn:  # the oldest waiting one was written an hour ago
        conn.execute(
            sa.text(
                "UPDATE outbox_deliveries SET created_at = now() - interval '1 hour'"
                " WHERE event_id = :e AND destination = 'wms'"
            ),
            {"e": later[0].event_id},
        )
    web = [e for e in envelopes(engine, "channel:web") if e.aggregate_id == "o-0"]
    with engine.begin() as conn:  # one channel message back to the outbox (unpublished)
        conn.execute(
            sa.text(
                "UPDATE outbox_deliveries SET status = 'pending', published_at = NULL"
                " WHERE event_id = :e AND destination = 'channel:web'"
            ),
            {"e": web[0].event_id},
        )

    found = destinations(cli)
    assert set(found) == {*SYSTEMS, "channel:web", "threepl"}  # not the disabled channel
    wms_row = found["wms"]
    assert (wms_row["state"], wms_row["reason"], wms_row["failures"]) == ("paused", "stock take", 0)
    assert (wms_row["pending"], wms_row["published"], wms_row["waiting"], wms_row["parked"]) == (
        0,
        0,
        1,
        3,
    )
    assert wms_row["backlog"] == 4
    assert 3590 <= wms_row["oldest_waiting_s"] <= 3700
    web_row = found["channel:web"]
    assert (web_row["state"], web_row["pending"], web_row["published"], web_row["backlog"]) == (
        "closed",
        1,
        1,
        2,
    )
    assert web_row["oldest_waiting_s"] is None
    assert (found["erp"]["state"], found["erp"]["backlog"], found["erp"]["failures"]) == (
        "closed",
        0,
        0,
    )
    threepl = found["threepl"]
    assert (threepl["state"], threepl["reason"]) == ("open", "connection refused")
    assert threepl["retry_at"] is not None

    monkeypatch.setattr(support, "console", Console(width=160))  # a wide terminal
    table = run(cli, "destination", "list").output
    lines = {line.split("│")[1].strip(): line for line in table.splitlines() if "│" in line}
    assert {*SYSTEMS, "channel:web", "threepl"} <= set(lines)
    assert "paused" in lines["wms"] and "waiting=1 parked=3" in lines["wms"]
    assert re.search(r"│ 3[56][0-9]{2}s ", lines["wms"])  # the oldest waiting, an hour
    assert "open (not before" in lines["threepl"] and "connection refused" in lines["threepl"]


def test_pause_and_resume_are_audited_and_a_resume_releases_what_waited(
    cli: CliRunner, engine: sa.Engine
) -> None:
    write_orders(engine, aggregates=1, events_each=1)
    publish_all(engine)
    (message,) = envelopes(engine, "wms")
    run(cli, "destination", "pause", "wms", "--reason", "ERP cut-over")
    assert deliver(engine, message, Recorder()) is Outcome.WAITING
    resumed = run(cli, "destination", "resume", "wms")
    assert "wms resumed; 1 waiting deliveries released" in resumed.output
    entries = rows(engine, "SELECT * FROM audit_log ORDER BY id")
    assert [(e.action, e.outcome, e.filter, e.counts) for e in entries] == [
        ("destination.pause", "ok", {"destination": "wms", "reason": "ERP cut-over"}, {}),
        ("destination.resume", "ok", {"destination": "wms"}, {"released": 1}),
    ]


@pytest.mark.parametrize("command", ["pause", "resume"])
def test_an_unknown_destination_is_refused_changes_nothing_and_is_audited(
    cli: CliRunner, engine: sa.Engine, command: str
) -> None:
    with engine.begin() as conn:
        registry.add_channel(conn, "web", "canonical")
    result = run(cli, "destination", command, "wsm", code=1)
    assert "'wsm' is not a destination" in result.output
    assert rows(engine, "SELECT * FROM destinations") == []
    (entry,) = rows(engine, "SELECT * FROM audit_log")
    assert (entry.action, entry.outcome) == (f"destination.{command}", "refused")
    # A channel is a destination by its name: no refusal.
    run(cli, "destination", command, "channel:web")
    assert {r.name for r in rows(engine, "SELECT * FROM destinations")} == {"channel:web"}
