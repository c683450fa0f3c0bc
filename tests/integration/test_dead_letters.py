"""`ordersync dlq list|show` against real PostgreSQL: the error classes as the actors'
own code paths record them, filters that combine, and the whole record of one."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from tests.cli_runs import run
from tests.dead_letters import KILLERS, dead_letter_ids, kill_rejected, publish_all, rows
from tests.outbox_rows import envelopes, write_orders


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("ORDERSYNC_DATABASE_URL", database_url)
    return CliRunner()


def listed(cli: CliRunner, *args: str) -> list[dict[str, Any]]:
    return list(json.loads(run(cli, "dlq", "list", "--json", *args).output))


def aggregates(found: list[dict[str, Any]]) -> list[str]:
    return [r["aggregate_id"] for r in found]


@pytest.fixture
def five(engine: sa.Engine) -> dict[str, Any]:
    """Five dead letters: o-0..o-3 at the WMS (rejected, failing, handler, unreadable; the
    first two dated 2026-01-01) and o-4 at channel:web (rejected with a 400)."""
    write_orders(engine, aggregates=5, events_each=2)  # wms #1, #2; channel:web #1
    publish_all(engine)
    wms = {e.aggregate_id: e for e in envelopes(engine, "wms") if e.sequence == 1}
    for aggregate, kind in zip(("o-0", "o-1", "o-2", "o-3"), KILLERS, strict=True):
        KILLERS[kind](engine, wms[aggregate])
    (channel,) = [e for e in envelopes(engine, "channel:web") if e.aggregate_id == "o-4"]
    kill_rejected(engine, channel, status=400)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE dead_letters SET created_at = '2026-01-01T12:00:00Z'"
                " WHERE aggregate_id IN ('o-0', 'o-1')"
            )
        )
    return {"ids": dead_letter_ids(engine)}


def test_each_error_class_is_derived_from_what_the_actors_recorded(
    cli: CliRunner, five: dict[str, Any]
) -> None:
    found = listed(cli)
    assert [(r["destination"], r["aggregate_id"], r["error_class"]) for r in found] == [
        ("wms", "o-0", "rejected"),
        ("wms", "o-1", "failing"),
        ("wms", "o-2", "handler"),
        ("wms", "o-3", "unreadable"),
        ("channel:web", "o-4", "rejected"),
    ]
    assert {r["state"] for r in found} == {"unresolved"}
    errors = {r["aggregate_id"]: r["error"] for r in found}
    assert errors["o-0"] == "wms: unknown SKU (HTTP 422)"
    assert "health check" in errors["o-1"] and "HTTP 500" in errors["o-1"]
    assert errors["o-2"].startswith("KeyError")
    assert "sequence" in errors["o-3"]
    for kind in KILLERS:
        assert {r["error_class"] for r in listed(cli, "--error-class", kind)} == {kind}


def test_the_filters_combine(cli: CliRunner, five: dict[str, Any]) -> None:
    assert aggregates(listed(cli, "--error-class", "rejected")) == ["o-0", "o-4"]
    assert aggregates(listed(cli, "--error-class", "rejected", "--destination", "wms")) == ["o-0"]
    assert aggregates(listed(cli, "--destination", "channel:web")) == ["o-4"]
    assert aggregates(
        listed(cli, "--destination", "wms", "--destination", "channel:web", "--order", "o-4")
    ) == ["o-4"]
    assert aggregates(listed(cli, "--order", "o-1", "--order", "o-2")) == ["o-1", "o-2"]
    assert aggregates(listed(cli, "--until", "2026-01-02")) == ["o-0", "o-1"]
    assert aggregates(listed(cli, "--since", "2026-01-01T12:00:00Z", "--until", "2026-01-02")) == [
        "o-0",
        "o-1",
    ]
    assert aggregates(listed(cli, "--since", "2026-01-02", "--error-class", "rejected")) == ["o-4"]
    assert aggregates(listed(cli, "--error-class", "failing", "--order", "o-0")) == []
    assert aggregates(listed(cli, "--limit", "2")) == ["o-0", "o-1"]


def test_resolved_ones_are_listed_only_when_asked_for(cli: CliRunner, five: dict[str, Any]) -> None:
    ids = five["ids"]
    run(cli, "dlq", "requeue", str(ids[("wms", "o-0")]))
    run(cli, "dlq", "purge", str(ids[("wms", "o-1")]), "--reason", "cancelled in the ERP")
    assert aggregates(listed(cli)) == ["o-2", "o-3", "o-4"]
    everything = listed(cli, "--include-resolved")
    assert [(r["aggregate_id"], r["state"]) for r in everything] == [
        ("o-0", "requeued"),
        ("o-1", "purged"),
        ("o-2", "unresolved"),
        ("o-3", "unresolved"),
        ("o-4", "unresolved"),
    ]
    assert aggregates(listed(cli, "--include-resolved", "--error-class", "failing")) == ["o-1"]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--destination", "erpp"], "'erpp' is not a destination"),
        (["--destination", "channel:"], "is not a destination"),
        (["--error-class", "angry"], "'angry' is not one of"),
        (["--since", "yesterday"], "is not an ISO 8601 time"),
        (["--since", "2026-02-01", "--until", "2026-01-01"], "--since must be before --until"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else "",
)
def test_a_bad_filter_is_a_clear_error(
    cli: CliRunner, five: dict[str, Any], args: list[str], says: str
) -> None:
    result = run(cli, "dlq", "list", *args, code=2)
    assert says in result.output


def test_the_table_has_a_row_per_dead_letter_with_its_class(
    cli: CliRunner, five: dict[str, Any]
) -> None:
    output = run(cli, "dlq", "list").output
    # One row each (a row's first line holds its id; long cells wrap onto more lines).
    assert [int(i) for i in re.findall(r"^│ (\d+) ", output, re.MULTILINE)] == sorted(
        five["ids"].values()
    )
    header = output.splitlines()[2]
    assert {"id", "class", "state", "error"} <= {h.strip() for h in header.split("┃")}


def test_show_prints_the_whole_record_with_its_ledger_row_cursor_and_parked_successors(
    cli: CliRunner, engine: sa.Engine
) -> None:
    write_orders(engine, aggregates=1, events_each=3)  # wms #1..#3
    publish_all(engine)
    from actors.guard import Outcome, deliver
    from tests.dead_letters import Recorder

    first, second, third = envelopes(engine, "wms")
    kill_rejected(engine, first)
    for later in (second, third):
        assert deliver(engine, later, Recorder()) is Outcome.PARKED
    (letter_id,) = dead_letter_ids(engine).values()

    shown = json.loads(run(cli, "dlq", "show", str(letter_id), "--json").output)
    assert (shown["id"], shown["destination"], shown["aggregate_id"], shown["sequence"]) == (
        letter_id,
        "wms",
        "o-0",
        1,
    )
    assert (shown["error_class"], shown["state"], shown["attempts"]) == (
        "rejected",
        "unresolved",
        1,
    )
    assert shown["error"] == "wms: unknown SKU (HTTP 422)"
    assert shown["envelope"]["event_id"] == str(first.event_id)
    assert shown["envelope"]["payload"]["order_id"] == "o-0"
    assert shown["delivery"]["status"] == "dead" and shown["delivery"]["attempts"] == 1
    assert shown["cursor"]["last_sequence"] == 0
    assert shown["cursor"]["blocked_by"] == str(first.event_id)
    assert shown["cursor"]["blocked_by_this"] is True
    assert shown["parked_behind"] == 2
    assert (shown["requeued_at"], shown["purged_at"], shown["purge_reason"]) == (None, None, None)

    text = run(cli, "dlq", "show", str(letter_id)).output
    assert "parked_behind: 2" in text and "blocked_by_this=True" in text
    assert '"order_id": "o-0"' in text  # the envelope, whole


def test_show_of_an_unknown_id_is_a_clear_error(cli: CliRunner, engine: sa.Engine) -> None:
    result = run(cli, "dlq", "show", "999", code=1)
    assert "no dead letter with id 999" in result.output
    assert rows(engine, "SELECT * FROM audit_log") == []  # a read is not an action
