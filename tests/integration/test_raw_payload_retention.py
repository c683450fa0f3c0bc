"""Retention of what channels sent: the raw bodies of applied, stale and ignored
deliveries go after their age (ORDERSYNC_RAW_PAYLOAD_DAYS, `outbox prune
--raw-payloads-older-than`); parked and received ones stay for their replay; the rows
stay, so a redelivery still dedups."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from adapters.db import inbound, registry
from tests.cli_runs import run

AGES = {
    "old-applied": 100,
    "old-stale": 100,
    "old-parked": 200,
    "young-applied": 10,
    "old-received": 200,
}


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("ORDERSYNC_DATABASE_URL", database_url)
    return CliRunner()


@pytest.fixture
def stored(engine: sa.Engine) -> dict[str, int]:
    ids = {}
    with engine.begin() as conn:
        registry.add_channel(conn, "woo", "woocommerce")
        for name, days in AGES.items():
            state = name.split("-")[1]
            row, _ = inbound.store(
                conn,
                channel="woo",
                kind="woocommerce",
                delivery_id=name,
                topic="order.updated",
                headers={},
                body=b'{"personal": "data"}',
                verification="hmac-sha256",
                state="parked" if state == "parked" else "received",
            )
            final = state in ("applied", "stale")
            conn.execute(
                sa.text(
                    "UPDATE inbound_deliveries SET state = :state,"
                    " received_at = now() - make_interval(days => :days),"
                    " applied_at = CASE WHEN :final THEN now() - make_interval(days => :days) END"
                    " WHERE id = :id"
                ),
                {"state": state, "days": days, "final": final, "id": row},
            )
            ids[name] = row
    return ids


def bodies(engine: sa.Engine) -> dict[str, bool]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT delivery_id, body IS NOT NULL AS kept, body_removed_at"
                " FROM inbound_deliveries ORDER BY id"
            )
        )
        return {r.delivery_id: r.kept and r.body_removed_at is None for r in rows}


def test_old_final_bodies_go_parked_and_young_ones_stay(
    cli: CliRunner, engine: sa.Engine, stored: dict[str, int]
) -> None:
    prune = ["outbox", "prune", "--older-than", "7d", "--raw-payloads-older-than", "90d", "--json"]
    dry = json.loads(run(cli, *prune, "--dry-run").output)
    assert dry["rows"]["inbound_deliveries"] == 2
    assert all(bodies(engine).values())
    real = json.loads(run(cli, *prune).output)
    assert real["rows"]["inbound_deliveries"] == 2 and "inbound_deliveries" in real["vacuumed"]
    assert bodies(engine) == {
        "old-applied": False,
        "old-stale": False,
        "old-parked": True,
        "young-applied": True,
        "old-received": True,
    }
    with engine.connect() as conn:
        assert inbound.store(
            conn,
            channel="woo",
            kind="woocommerce",
            delivery_id="old-applied",
            topic="order.updated",
            headers={},
            body=b"{}",
            verification="hmac-sha256",
        ) == (stored["old-applied"], False)


def test_maintenance_removes_them_after_the_configured_days(
    cli: CliRunner, engine: sa.Engine, stored: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORDERSYNC_RAW_PAYLOAD_DAYS", "5")
    report = json.loads(run(cli, "maintenance", "--once", "--json").output)
    assert report["rows"]["inbound_deliveries"] == 3
    assert [name for name, kept in bodies(engine).items() if not kept] == [
        "old-applied",
        "old-stale",
        "young-applied",
    ]
