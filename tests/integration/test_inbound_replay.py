"""Inbound dead letters end to end: a verified WooCommerce delivery naming a SKU nobody
knows is acknowledged and parked; `ordersync sku map` and `ordersync inbound replay`
apply it through the same path, audited."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from adapters.http.keys import HttpConfig
from tests.cli_runs import run
from tests.integration.conftest import Keys, stock
from tests.integration.test_woocommerce_door import SECRET, fixture, order_of, send
from tests.webhooks import SECRET_KEY, delivery, settle, webhook_channel, webhook_config


@pytest.fixture
def http_config() -> HttpConfig:
    return webhook_config()


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("ORDERSYNC_DATABASE_URL", database_url)
    monkeypatch.setenv("ORDERSYNC_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("ORDERSYNC_OPERATOR", "ops-rita")
    return CliRunner()


def audit_actions(engine: sa.Engine) -> list[tuple[str, str, str]]:
    with engine.connect() as conn:
        return [
            (row.action, row.actor, row.outcome)
            for row in conn.execute(
                sa.text("SELECT action, actor, outcome FROM audit_log ORDER BY id")
            )
        ]


async def test_an_unknown_sku_is_acknowledged_parked_then_mapped_and_replayed(
    client: Any, keys: Keys, engine: sa.Engine, cli: CliRunner
) -> None:
    webhook_channel(engine, "woo", "woocommerce", secret=SECRET, shop_domain="shop.example.com")
    status, answer = await send(client, "order-unicode.json", topic="order.created")
    assert status == 202
    await settle(client)
    parked = delivery(engine, answer["delivery"])
    assert parked.state == "parked"
    assert parked.error == "unknown-sku: unknown SKU(s): MUG-CAFÉ"
    listed = json.loads(run(cli, "inbound", "list", "--state", "parked", "--json").output)
    assert [row["id"] for row in listed] == [parked.id]
    shown = json.loads(run(cli, "inbound", "show", str(parked.id)).output)
    assert shown["body_text"] == fixture("order-unicode.json").decode()
    assert shown["verification"] == "hmac-sha256"

    # Replayed before the SKU is mapped: parked again, one attempt more.
    assert run(cli, "inbound", "replay", str(parked.id)).output.strip() == (
        f"inbound delivery {parked.id}: parked"
    )
    assert delivery(engine, parked.id).attempts == 2

    await stock(client, keys, {"sku": "MUG-CAFE-350", "location": "WH-EAST", "set_on_hand": 5})
    run(cli, "sku", "map", "woo", "MUG-CAFÉ", "MUG-CAFE-350")
    mappings = json.loads(run(cli, "sku", "list", "--channel", "woo", "--json").output)
    assert [(m["channel_sku"], m["sku"], m["created_by"]) for m in mappings] == [
        ("MUG-CAFÉ", "MUG-CAFE-350", "ops-rita")
    ]
    out = run(cli, "inbound", "replay", str(parked.id)).output
    assert out.strip() == f"inbound delivery {parked.id}: applied"
    order = await order_of(client, "4202")
    assert [(ln["sku"], ln["quantity"], ln["allocated"]) for ln in order["lines"]] == [
        ("MUG-CAFE-350", 2, 2)
    ]
    assert delivery(engine, parked.id).order_id is not None
    # A replay of what is applied does nothing.
    assert run(cli, "inbound", "replay", str(parked.id)).output.strip().endswith(": skipped")
    assert audit_actions(engine) == [
        ("inbound.replay", "ops-rita", "ok"),
        ("sku.map", "ops-rita", "ok"),
        ("inbound.replay", "ops-rita", "ok"),
        ("inbound.replay", "ops-rita", "ok"),
    ]


async def test_all_parked_deliveries_of_a_channel_replay_at_once(
    client: Any, keys: Keys, engine: sa.Engine, cli: CliRunner
) -> None:
    webhook_channel(engine, "woo", "woocommerce", secret=SECRET, shop_domain="shop.example.com")
    sent = [await send(client, name) for name in ("order-gbp.json", "order-jpy.json")]
    await settle(client)
    assert {delivery(engine, a["delivery"]).state for _, a in sent} == {"parked"}
    await stock(
        client,
        keys,
        {"sku": "HOODIE-L-GRY", "location": "WH-EAST", "set_on_hand": 5},
        {"sku": "TEE-M-BLK", "location": "WH-EAST", "set_on_hand": 5},
    )
    out = json.loads(
        run(cli, "inbound", "replay", "--all-parked", "--channel", "woo", "--yes", "--json").output
    )
    assert out == {str(a["delivery"]): "applied" for _, a in sent}


def test_sku_commands_refuse_what_they_cannot_do(cli: CliRunner, engine: sa.Engine) -> None:
    assert "no channel named 'nope'" in run(cli, "sku", "map", "nope", "A", "B", code=1).output
    webhook_channel(engine, "woo", "woocommerce", secret=SECRET)
    assert "has no mapping" in run(cli, "sku", "unmap", "woo", "A", code=1).output
    run(cli, "sku", "map", "woo", "A", "B")
    assert run(cli, "sku", "unmap", "woo", "A").output.strip() == "woo: A unmapped (was B)"
    assert "IDs or --all-parked" in run(cli, "inbound", "replay", code=2).output
    assert [a for a, _, _ in audit_actions(engine)] == [
        "sku.map",
        "sku.unmap",
        "sku.map",
        "sku.unmap",
    ]


async def test_ops_inbound_lists_shows_and_replays_the_parked(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    import base64

    from adapters.db import sku_mappings

    webhook_channel(engine, "woo", "woocommerce", secret=SECRET, shop_domain="shop.example.com")
    _, answer = await send(client, "order-unicode.json", topic="order.created")
    await settle(client)
    admin = {**Keys.bearer(keys.admin), "X-Operator": "rita"}
    listed = await client.get("/ops/inbound?state=parked&channel=woo", headers=admin)
    assert listed.status == 200
    [row] = (await listed.json())["deliveries"]
    assert (row["id"], row["state"], row["topic"]) == (
        answer["delivery"],
        "parked",
        "order.created",
    )
    one = await client.get(f"/ops/inbound/{row['id']}", headers=admin)
    shown = await one.json()
    assert base64.b64decode(shown["body_base64"]) == fixture("order-unicode.json")
    assert shown["headers"]["X-WC-Webhook-Topic"] == "order.created"
    assert shown["verification"] == "hmac-sha256" and "MUG-CAFÉ" in shown["error"]

    await stock(client, keys, {"sku": "MUG-CAFE-350", "location": "WH-EAST", "set_on_hand": 5})
    with engine.begin() as conn:
        sku_mappings.map_sku(conn, "woo", "MUG-CAFÉ", "MUG-CAFE-350", created_by="test")
    replayed = await client.post(f"/ops/inbound/{row['id']}/replay", headers=admin)
    assert (replayed.status, await replayed.json()) == (
        200,
        {"delivery": row["id"], "state": "applied"},
    )
    again = await client.post(f"/ops/inbound/{row['id']}/replay", headers=admin)
    assert again.status == 409
    assert (await client.get("/ops/inbound/999999", headers=admin)).status == 404
    assert (await client.get("/ops/inbound", headers=Keys.bearer(keys.web))).status == 403
    assert (await client.get("/ops/inbound?state=lost", headers=admin)).status == 400
    assert audit_actions(engine)[-2:] == [
        ("inbound.replay", "admin token (rita)", "ok"),
        ("inbound.replay", "admin token (rita)", "ok"),
    ]
