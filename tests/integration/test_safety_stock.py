"""Safety stock over HTTP and the CLI, real PostgreSQL: a change tells every channel its
sellable figure (one inventory.changed per SKU affected, on each channel's outbox row),
and what a channel is told is ATP less its safety stock, never on_hand."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from tests.cli_runs import run
from tests.factories import order_doc
from tests.integration.conftest import Keys, stock
from tests.integration.stock_helpers import last_event_id, written
from tests.integration.test_oversell import scalar


def stock_rows(engine: sa.Engine, since: int) -> list[dict[str, Any]]:
    """inventory.changed rows after `since`: one per (event, destination), with the payload."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT e.aggregate_id AS sku, e.aggregate_version, d.destination, d.coalesce_key,"
                " e.payload FROM outbox_events e JOIN outbox_deliveries d USING (event_id)"
                " WHERE e.id > :since AND e.event_type = 'inventory.changed'"
                " ORDER BY e.id, d.destination"
            ),
            {"since": since},
        ).mappings()
        return [dict(r) for r in rows]


async def put(client: Any, key: str, **body: Any) -> tuple[int, Any]:
    response = await client.put("/v1/inventory/safety-stock", json=body, headers=Keys.bearer(key))
    return response.status, await response.json()


async def stocked(client: Any, keys: Keys) -> None:
    await stock(
        client,
        keys,
        {"sku": "A", "location": "WH-EAST", "set_on_hand": 10},
        {"sku": "A", "location": "STORE-LIS", "set_on_hand": 3},
        {"sku": "B", "location": "STORE-LIS", "set_on_hand": 2},
        {"sku": "C", "location": "WH-EAST", "set_on_hand": 4},
    )


async def test_a_locations_safety_stock_tells_every_channel_its_figure_for_each_sku_there(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    await stocked(client, keys)
    since = last_event_id(engine)

    status, body = await put(client, keys.erp, channel="web", location="STORE-LIS", quantity=2)

    assert status == 200, body
    assert body == {
        "channel": "web",
        "location": "STORE-LIS",
        "sku": "*",
        "quantity": 2,
        "sellable": {"A": 10 + 1, "B": 0},
    }
    rows = stock_rows(engine, since)
    # A and B have stock at STORE-LIS (C has none there: untouched); one event each, a
    # delivery row per active channel, each carrying every channel's figure.
    assert [(r["sku"], r["destination"]) for r in rows] == [
        ("A", "channel:pos"),
        ("A", "channel:web"),
        ("B", "channel:pos"),
        ("B", "channel:web"),
    ]
    sellable = {r["sku"]: r["payload"]["sellable"] for r in rows}
    assert sellable == {"A": {"pos": 13, "web": 11}, "B": {"pos": 2, "web": 0}}
    assert {r["sku"]: r["payload"]["atp"] for r in rows} == {"A": 13, "B": 2}
    assert {r["coalesce_key"] for r in rows} == {"atp:A", "atp:B"}


async def test_a_skus_own_figure_overrides_the_locations_and_orders_carry_the_figures(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    await stocked(client, keys)
    await put(client, keys.admin, channel="pos", location="WH-EAST", quantity=5)
    await put(client, keys.admin, channel="pos", location="WH-EAST", sku="A", quantity=1)
    since = last_event_id(engine)

    response = await client.post(
        "/v1/orders",
        json=order_doc("SS-1", [("A", 2)]),
        headers=Keys.bearer(keys.web),
    )
    assert response.status == 201

    [for_pos, for_web] = stock_rows(engine, since)
    # A at WH-EAST: ATP 8, pos holds 1 back (its own figure, not the '*' 5); STORE-LIS 3.
    assert for_pos["payload"]["sellable"] == {"pos": 7 + 3, "web": 8 + 3}
    assert for_pos["payload"] == for_web["payload"]
    c_rows = [r for r in stock_rows(engine, 0) if r["sku"] == "C"]
    assert c_rows[-1]["payload"]["sellable"] == {"pos": 0, "web": 4}  # max(0, 4 − 5) = 0


async def test_bad_safety_stock_is_refused_and_changes_nothing(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    await stocked(client, keys)
    before = written(engine)

    for body in (
        {"channel": "nope", "location": "WH-EAST", "quantity": 1},
        {"channel": "web", "location": "NOWHERE", "quantity": 1},
        {"channel": "web", "location": "WH-EAST", "quantity": -1},
        {"channel": "web", "location": "WH-EAST", "quantity": "1"},
    ):
        status, problem = await put(client, keys.erp, **body)
        assert status == 422, (body, problem)
    status, _ = await put(client, keys.web, channel="web", location="WH-EAST", quantity=1)
    assert status == 403  # channels do not set their own safety stock
    assert written(engine) == before


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("ORDERSYNC_DATABASE_URL", database_url)
    monkeypatch.setenv("ORDERSYNC_OPERATOR", "ana")
    return CliRunner()


async def test_the_cli_sets_lists_and_removes_safety_stock_audited_and_told(
    client: Any, keys: Keys, engine: sa.Engine, cli: CliRunner
) -> None:
    await stocked(client, keys)
    since = last_event_id(engine)

    shown = run(cli, "safety-stock", "set", "--channel", "web", "--location", "WH-EAST", "4")
    assert "A: web may sell 9" in shown.output and "C: web may sell 0" in shown.output
    run(cli, "safety-stock", "set", "--channel", "pos", "--location", "WH-EAST", "--sku", "C", "1")
    listed = run(cli, "safety-stock", "list", "--json")
    assert json.loads(listed.output) == [
        {"channel": "pos", "location": "WH-EAST", "sku": "C", "quantity": 1},
        {"channel": "web", "location": "WH-EAST", "sku": "*", "quantity": 4},
    ]
    run(cli, "safety-stock", "remove", "--channel", "web", "--location", "WH-EAST")
    missing = run(
        cli, "safety-stock", "remove", "--channel", "web", "--location", "WH-EAST", code=1
    )
    assert "no safety stock" in missing.output
    assert (
        "no channel"
        in run(
            cli, "safety-stock", "set", "--channel", "nope", "--location", "WH-EAST", "1", code=1
        ).output
    )

    figures = [
        (r["sku"], r["payload"]["sellable"]["web"], r["payload"]["sellable"]["pos"])
        for r in stock_rows(engine, since)
        if r["destination"] == "channel:web"
    ]
    # set: A 10 − 4 + 3 and C 4 − 4 for web; pos's own C rule moves only pos's figure of C;
    # remove: web's figures back; the refusals told nobody anything.
    assert figures == [("A", 9, 13), ("C", 0, 4), ("C", 0, 3), ("A", 13, 13), ("C", 4, 3)]
    with engine.connect() as conn:
        audit = conn.execute(
            sa.text("SELECT actor, action, outcome FROM audit_log ORDER BY id")
        ).all()
    assert [tuple(a) for a in audit] == [
        ("ana", "safety_stock.set", "ok"),
        ("ana", "safety_stock.set", "ok"),
        ("ana", "safety_stock.remove", "ok"),
        ("ana", "safety_stock.remove", "refused"),
        ("ana", "safety_stock.set", "refused"),
    ]


async def test_a_sku_first_stocked_at_the_location_during_a_change_is_told_too(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    """While a '*' rule for WH-EAST is being set, another transaction adds the first stock
    row of a new SKU there (uncommitted): the change waits for it on the location row (seen
    in pg_stat_activity), then finds the SKU it had not read, starts again with it locked,
    and tells the channels that SKU's figure too."""
    await stocked(client, keys)
    since = last_event_id(engine)
    other = engine.connect()
    adding = other.begin()
    other.execute(sa.text("INSERT INTO skus (sku) VALUES ('NEW')"))
    other.execute(
        sa.text("INSERT INTO stock (sku, location, on_hand) VALUES ('NEW', 'WH-EAST', 7)")
    )
    task = asyncio.create_task(put(client, keys.erp, channel="web", location="WH-EAST", quantity=3))
    try:
        for _ in range(600):  # a bound on waiting for the request to arrive, not a timing
            waiting = scalar(
                engine,
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock' AND query ILIKE '%FROM locations%FOR UPDATE%'",
            )
            if waiting:
                break
            await asyncio.sleep(0.05)
        assert waiting == 1 and not task.done()
    except BaseException:
        task.cancel()
        raise
    finally:
        adding.commit()
        other.close()
    status, body = await task

    assert status == 200, body
    assert body["sellable"] == {"A": 7 + 3, "C": 1, "NEW": 4}
    told = {r["sku"]: r["payload"]["sellable"] for r in stock_rows(engine, since)}
    assert told == {
        "A": {"pos": 13, "web": 10},
        "C": {"pos": 4, "web": 1},
        "NEW": {"pos": 7, "web": 4},
    }
