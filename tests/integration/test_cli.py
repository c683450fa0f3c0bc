"""The `ordersync` CLI against a real PostgreSQL database."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from adapters.db.registry import authenticate
from ops.cli import main


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("ORDERSYNC_DATABASE_URL", database_url)
    monkeypatch.setenv("ORDERSYNC_SECRET_KEY", "a-test-secret-key-of-some-length")
    return CliRunner()


def test_help_lists_the_commands() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    section = result.output.split("Commands:\n", 1)[1]
    listed = {line.split()[0] for line in section.splitlines() if line.startswith("  ")}
    # Each as an entry of the Commands section, not just a word somewhere in the text.
    assert listed >= {
        "api",
        "channel",
        "db",
        "demo",
        "destination",
        "dlq",
        "location",
        "outbox",
        "relay",
        "safety-stock",
        "sim",
        "system",
        "worker",
    }


def test_db_upgrade_is_repeatable(cli: CliRunner) -> None:
    result = cli.invoke(main, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "database at head" in result.output


def test_channel_add_prints_a_key_that_authenticates_and_stores_only_its_hash(
    cli: CliRunner, engine: sa.Engine
) -> None:
    result = cli.invoke(
        main, ["channel", "add", "shop-eu", "--kind", "shopify", "--secret", "whsec"]
    )
    assert result.exit_code == 0, result.output
    key = result.output.strip().splitlines()[-1]
    assert key.startswith("osk_ch_")
    with engine.connect() as conn:
        caller = authenticate(conn, key)
        row = conn.execute(sa.text("SELECT * FROM channels WHERE name = 'shop-eu'")).one()
    assert caller is not None and (caller.kind, caller.name, caller.subkind) == (
        "channel",
        "shop-eu",
        "shopify",
    )
    assert key not in str(row._asdict().values())
    assert row.secret_ciphertext and "whsec" not in row.secret_ciphertext

    listed = cli.invoke(main, ["channel", "list", "--json"])
    assert [c["name"] for c in json.loads(listed.output)] == ["shop-eu"]


def test_a_second_channel_with_the_same_name_is_a_clear_error(cli: CliRunner) -> None:
    assert cli.invoke(main, ["channel", "add", "web", "--kind", "canonical"]).exit_code == 0
    again = cli.invoke(main, ["channel", "add", "web", "--kind", "canonical"])
    assert again.exit_code == 1
    assert "already exists" in again.output


def test_a_channel_secret_without_a_secret_key_is_refused(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch, engine: sa.Engine
) -> None:
    monkeypatch.delenv("ORDERSYNC_SECRET_KEY")
    result = cli.invoke(main, ["channel", "add", "web", "--kind", "canonical", "--secret", "s"])
    assert result.exit_code == 1
    assert "ORDERSYNC_SECRET_KEY" in result.output
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM channels")).scalar_one() == 0


def test_system_add_and_locations(cli: CliRunner, engine: sa.Engine) -> None:
    result = cli.invoke(main, ["system", "add", "erp", "--kind", "erp"])
    assert result.exit_code == 0, result.output
    with engine.connect() as conn:
        caller = authenticate(conn, result.output.strip().splitlines()[-1])
    assert caller is not None and caller.kind == "system"
    assert cli.invoke(main, ["location", "add", "STORE-LIS", "--type", "store"]).exit_code == 0
    assert (
        cli.invoke(main, ["location", "add", "WH-EAST", "--type", "warehouse", "--priority", "5"])
    ).exit_code == 0
    listed = json.loads(cli.invoke(main, ["location", "list", "--json"]).output)
    assert listed == [
        {"code": "WH-EAST", "type": "warehouse", "priority": 5},
        {"code": "STORE-LIS", "type": "store", "priority": 100},
    ]


def test_outbox_stats_reports_the_backlog_per_destination(
    cli: CliRunner, engine: sa.Engine
) -> None:
    from adapters.db.uow import SqlUnitOfWork
    from domain.commands import AdjustInventory, PlaceOrder
    from domain.services import adjust_inventory, place_order
    from ops.wiring import ROUTING
    from tests.factories import order_doc

    assert cli.invoke(main, ["channel", "add", "web", "--kind", "canonical"]).exit_code == 0
    adjust_inventory(
        SqlUnitOfWork(engine, routing=ROUTING),
        AdjustInventory.model_validate(
            {"adjustments": [{"sku": "A", "location": "WH", "set_on_hand": 5}]}
        ),
    )
    place_order(
        SqlUnitOfWork(engine, routing=ROUTING),
        PlaceOrder.model_validate(order_doc("S1", [("A", 1)])),
        channel="web",
    )
    result = cli.invoke(main, ["outbox", "stats", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["relays"] == []  # no relay running
    stats = {row["destination"]: row for row in report["destinations"]}
    assert set(stats) == {"erp", "crm", "wms", "channel:web"}
    assert stats["erp"]["unpublished"] == 1
    assert stats["channel:web"]["unpublished"] == 3  # accepted + two stock changes
    assert stats["erp"]["oldest_unpublished_s"] >= 0


def test_a_bad_setting_is_named_in_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERSYNC_DATABASE_URL", "mysql://nope")
    result = CliRunner().invoke(main, ["channel", "list"])
    assert result.exit_code == 1
    assert "ORDERSYNC_DATABASE_URL" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "command",
    [
        ["db", "upgrade"],
        ["api", "--port", "0"],
        ["relay"],
        ["worker"],
        ["channel", "list"],
        ["hold-rule", "list"],
        ["hold-rule", "add", "--kind", "country_mismatch"],
        ["outbox", "stats"],
        ["destination", "pause", "erp"],
        ["outbox", "prune", "--older-than", "7d"],
        ["maintenance", "--once"],
    ],
    ids=" ".join,
)
def test_a_command_without_a_database_url_says_which_variable_to_set(
    monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.delenv("ORDERSYNC_DATABASE_URL", raising=False)
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 1, result.output
    assert "ORDERSYNC_DATABASE_URL is not set" in result.output
    assert "only `ordersync demo` starts a server of its own" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_an_unmigrated_database_says_to_run_db_upgrade(
    monkeypatch: pytest.MonkeyPatch, empty_database_url: str
) -> None:
    monkeypatch.setenv("ORDERSYNC_DATABASE_URL", empty_database_url)
    result = CliRunner().invoke(main, ["channel", "list"])
    assert result.exit_code == 1
    assert "ordersync db upgrade" in result.output
