"""`ordersync hold-rule add|list|remove` against real PostgreSQL: values validated and
stored normalized, a duplicate refused, every change audited, and a rule added by the
command screening the next order."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from adapters.db import registry
from tests.cli_runs import run
from tests.dead_letters import rows
from tests.factories import order_doc
from tests.integration.conftest import Keys, stock


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("ORDERSYNC_DATABASE_URL", database_url)
    monkeypatch.setenv("ORDERSYNC_OPERATOR", "ops-anna")
    return CliRunner()


@pytest.fixture
def channels(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        registry.add_channel(conn, "web", "canonical")
        registry.add_channel(conn, "pos", "pos")


def listed(cli: CliRunner, *args: str) -> list[dict[str, Any]]:
    return list(json.loads(run(cli, "hold-rule", "list", "--json", *args).output))


def add(cli: CliRunner, *args: str, code: int = 0) -> str:
    return run(cli, "hold-rule", "add", *args, code=code).output


@pytest.mark.usefixtures("channels")
def test_rules_are_added_normalized_listed_by_channel_and_removed(
    cli: CliRunner, engine: sa.Engine
) -> None:
    added = add(cli, "--kind", "amount_over", "--channel", "web", "--value", "1000 eur")
    assert "hold rule 1 added: amount_over 1000.00 EUR for web" in added
    add(cli, "--kind", "country_mismatch")
    add(cli, "--kind", "blocked_customer", "--channel", "pos", "--value", " Bob@X.com")

    everything = listed(cli)
    assert [(r["id"], r["channel"], r["kind"], r["value"]) for r in everything] == [
        (1, "web", "amount_over", "1000.00 EUR"),
        (2, None, "country_mismatch", None),
        (3, "pos", "blocked_customer", "bob@x.com"),
    ]
    assert {r["created_by"] for r in everything} == {"ops-anna"}
    assert [r["id"] for r in listed(cli, "--channel", "web")] == [1, 2]
    table = run(cli, "hold-rule", "list").output
    assert "(every channel)" in table and "country_mismatch" in table

    removed = run(cli, "hold-rule", "remove", "1")
    assert "hold rule 1 removed: amount_over 1000.00 EUR for web" in removed.output
    assert [r["id"] for r in listed(cli)] == [2, 3]
    audit = rows(engine, "SELECT action, outcome, filter, counts FROM audit_log ORDER BY id")
    assert [(a.action, a.outcome) for a in audit] == [
        ("hold-rule.add", "ok"),
        ("hold-rule.add", "ok"),
        ("hold-rule.add", "ok"),
        ("hold-rule.remove", "ok"),
    ]
    assert audit[0].filter == {"kind": "amount_over", "channel": "web", "value": "1000 eur"}
    assert audit[0].counts == {"rule": 1}


@pytest.mark.parametrize(
    ("first", "again"),
    [
        (["--kind", "country_mismatch"], ["--kind", "country_mismatch"]),
        (
            ["--kind", "blocked_customer", "--value", "a@b.com", "--channel", "web"],
            ["--kind", "blocked_customer", "--value", " A@B.COM ", "--channel", "web"],
        ),
    ],
)
@pytest.mark.usefixtures("channels")
def test_a_duplicate_rule_is_refused_with_exit_1_and_audited(
    cli: CliRunner, engine: sa.Engine, first: list[str], again: list[str]
) -> None:
    run(cli, "hold-rule", "add", *first)
    result = run(cli, "hold-rule", "add", *again, code=1)
    assert "exists already" in result.output
    assert len(listed(cli)) == 1
    last = rows(engine, "SELECT action, outcome, detail FROM audit_log ORDER BY id DESC")[0]
    assert (last.action, last.outcome) == ("hold-rule.add", "refused")
    assert "exists already" in last.detail


@pytest.mark.usefixtures("channels")
def test_the_same_kind_and_value_for_another_channel_is_another_rule(cli: CliRunner) -> None:
    run(cli, "hold-rule", "add", "--kind", "country_mismatch", "--channel", "web")
    run(cli, "hold-rule", "add", "--kind", "country_mismatch", "--channel", "pos")
    run(cli, "hold-rule", "add", "--kind", "country_mismatch")
    assert len(listed(cli)) == 3


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--kind", "amount_over", "--value", "lots"], "AMOUNT CURRENCY"),
        (["--kind", "amount_over"], "needs a value"),
        (["--kind", "country_mismatch", "--value", "PT"], "takes no value"),
        (["--kind", "blocked_address", "--value", "Rua 1"], "LINE1|POSTAL_CODE|COUNTRY"),
        (["--kind", "country_mismatch", "--channel", "nope"], "no channel 'nope'"),
    ],
)
@pytest.mark.usefixtures("channels")
def test_a_bad_rule_is_refused_and_nothing_is_added(
    cli: CliRunner, args: list[str], says: str
) -> None:
    result = run(cli, "hold-rule", "add", *args, code=1)
    assert says in result.output
    assert listed(cli) == []


def test_an_unknown_kind_or_id_is_refused(cli: CliRunner) -> None:
    assert (
        "'velocity' is not one of"
        in run(cli, "hold-rule", "add", "--kind", "velocity", code=2).output
    )
    assert "no hold rule 9" in run(cli, "hold-rule", "remove", "9", code=1).output
    run(cli, "hold-rule", "remove", "0", code=2)


async def test_a_rule_added_by_the_command_holds_the_next_order(
    cli: CliRunner, client: Any, keys: Keys
) -> None:
    run(cli, "hold-rule", "add", "--kind", "blocked_customer", "--value", "ANA@example.com")
    await stock(client, keys, {"sku": "A", "location": "WH-EAST", "set_on_hand": 5})
    response = await client.post(
        "/v1/orders", json=order_doc("CLI-1", [("A", 1)]), headers=Keys.bearer(keys.web)
    )
    body = await response.json()
    assert (body["status"], body["holds"]) == (
        "on_hold",
        ["blocked_customer: ana@example.com is blocked (rule 1)"],
    )
