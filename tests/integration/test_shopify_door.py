"""POST /v1/webhooks/shopify through the real app over real PostgreSQL: Shopify's own
orders/create and orders/updated, verified over the exact bytes with the shop's secret,
found by X-Shopify-Shop-Domain, stored once and applied as one order in its final state;
fulfillments/create and refunds/create (its lines numbered from the order read from the
simulator's Admin API at the channel's --api-url) on that order."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from adapters.http.keys import HttpConfig
from simulators.app import init_sim_app
from simulators.server import ServerThread
from tests.db_state import DIGEST
from tests.integration.conftest import Keys, stock
from tests.shopify_docs import SECRET, SHOP, delivery, doc, raw
from tests.webhooks import (
    count,
    map_and_replay,
    one_received_one_duplicate,
    operator_cli,
    post_delivery,
    settle,
    two_copies_at_once,
    webhook_channel,
    webhook_config,
)
from tests.webhooks import delivery as inbox_row

EXTERNAL_ID = "5820334194882"  # orders_create.json's id


@pytest.fixture
def http_config() -> HttpConfig:
    return webhook_config()


@pytest.fixture
def sim() -> Iterator[str]:
    with ServerThread(init_sim_app(seed=1)) as server:
        yield server.url


@pytest.fixture
async def shop(client: Any, keys: Keys, engine: sa.Engine, sim: str) -> str:
    """The channel "shop" (acme.myshopify.com, its Admin API at the simulator) and twenty
    of each of its SKUs in WH-EAST."""
    webhook_channel(
        engine,
        "shop",
        "shopify",
        secret=SECRET,
        shop_domain=SHOP,
        api_url=f"{sim}/channels/shop",
        credentials={"access_token": "shpat_test"},
    )
    await stock(
        client,
        keys,
        *(
            {"sku": sku, "location": "WH-EAST", "set_on_hand": 20}
            for sku in ("TEE-M-BLK", "MUG-WHT")
        ),
    )
    return "shop"


async def send(client: Any, body: bytes, topic: str, event_id: str, **options: Any) -> Any:
    sent = delivery(body, topic, event_id=event_id, **options)
    return await post_delivery(client, "shopify", body, dict(sent.headers))


async def the_order(client: Any) -> dict[str, Any]:
    response = await client.get(
        f"/v1/orders?channel=shop&external_id={EXTERNAL_ID}", headers=Keys.bearer(Keys.admin)
    )
    [order] = (await response.json())["items"]
    return dict(order)


def digest(engine: sa.Engine) -> list[Any]:
    with engine.connect() as conn:
        state = list(conn.execute(sa.text(DIGEST)))
        inbox = conn.execute(sa.text("SELECT count(*) FROM inbound_deliveries")).scalar_one()
    return [*state, inbox]


async def test_an_order_from_shopify_is_applied_once_and_a_redelivery_writes_nothing(
    client: Any, shop: str, engine: sa.Engine
) -> None:
    body = raw("orders_create")
    status, answer = await send(client, body, "orders/create", "ev-1")
    assert status == 202, answer
    await settle(client)
    row = inbox_row(engine, answer["delivery"])
    assert (row.state, row.external_id, row.verification) == (
        "applied",
        EXTERNAL_ID,
        "hmac-sha256",
    )
    order = await the_order(client)
    assert str(row.order_id) == order["id"]
    assert sorted(line["sku"] for line in order["lines"]) == ["MUG-WHT", "TEE-M-BLK"]

    before = digest(engine)
    status, again = await send(client, body, "orders/create", "ev-1")
    await settle(client)
    assert (status, again["status"], again["delivery"]) == (200, "duplicate", answer["delivery"])
    assert digest(engine) == before


async def test_a_bad_signature_or_reserialized_json_is_401_and_writes_nothing(
    client: Any, shop: str, engine: sa.Engine
) -> None:
    before = digest(engine)
    body = raw("orders_create")
    status, _ = await send(client, body, "orders/create", "ev-2", secret="not-the-secret")
    assert status == 401
    # The same content in other bytes: Shopify signed the bytes it sent, not the JSON.
    reserialized = json.dumps(json.loads(body)).encode()
    signed = dict(delivery(body, "orders/create", event_id="ev-3").headers)
    status, _ = await post_delivery(client, "shopify", reserialized, signed)
    assert status == 401
    assert digest(engine) == before


async def test_an_update_before_its_create_makes_the_order_as_the_update_says(
    client: Any, shop: str, engine: sa.Engine
) -> None:
    updated = raw("orders_updated_before_create")
    status, first = await send(client, updated, "orders/updated", "ev-u")
    assert status == 202, first
    await settle(client)
    external = inbox_row(engine, first["delivery"]).external_id
    create = raw("orders_create_after_update")
    status, second = await send(client, create, "orders/create", "ev-c")
    await settle(client)
    rows = inbox_row(engine, first["delivery"]), inbox_row(engine, second["delivery"])
    assert [r.state for r in rows] == ["applied", "stale"]
    with engine.connect() as conn:
        count = conn.execute(
            sa.text("SELECT count(*) FROM orders WHERE channel = 'shop' AND external_id = :e"),
            {"e": external},
        ).scalar_one()
    assert count == 1


def changed(name: str, **members: Any) -> bytes:
    """A fixture with some top-level members changed, as Shopify would serialize it."""
    return json.dumps({**doc(name), **members}, default=str).encode()


async def test_two_copies_in_flight_together_store_one_delivery_and_one_order(
    client: Any, shop: str, engine: sa.Engine
) -> None:
    body = raw("orders_create")
    answers = await two_copies_at_once(
        engine, lambda: send(client, body, "orders/create", "ev-twice")
    )
    one_received_one_duplicate(answers)
    await settle(client)
    assert count(engine, "SELECT count(*) FROM inbound_deliveries WHERE channel = 'shop'") == 1
    assert count(engine, "SELECT count(*) FROM orders WHERE channel = 'shop'") == 1
    assert sum(r["quantity"] for r in (await the_order(client))["reservations"]) == 3


async def test_an_older_update_after_a_newer_one_is_stale_and_the_newer_one_stays(
    client: Any, shop: str, engine: sa.Engine
) -> None:
    """orders/updated of 12:04:31 (a new address) arrives before that of 11:00 (another)."""
    street = doc("orders_create")["shipping_address"]
    newer = changed("orders_updated", shipping_address={**street, "address1": "2 Newer Street"})
    older = changed(
        "orders_updated",
        updated_at="2026-11-26T11:00:00-05:00",
        shipping_address={**street, "address1": "1 Older Street"},
    )
    sent = []
    for body, topic, event in (
        (raw("orders_create"), "orders/create", "ev-c"),
        (newer, "orders/updated", "ev-new"),
        (older, "orders/updated", "ev-old"),
    ):
        sent.append(await send(client, body, topic, event))
        await settle(client)
    assert [inbox_row(engine, a["delivery"]).state for _, a in sent] == [
        "applied",
        "applied",
        "stale",
    ]
    order = await the_order(client)
    assert order["shipping_address"]["line1"] == "2 Newer Street"
    assert count(engine, "SELECT count(*) FROM orders WHERE channel = 'shop'") == 1
    with engine.connect() as conn:
        [version] = conn.execute(
            sa.text("SELECT version_at FROM channel_order_versions WHERE channel = 'shop'")
        ).scalars()
    assert version.isoformat() == "2026-11-26T17:04:31+00:00"


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, database_url: str) -> CliRunner:
    return operator_cli(monkeypatch, database_url)


async def test_an_unknown_sku_is_parked_then_mapped_and_replayed(
    client: Any, shop: str, engine: sa.Engine, cli: CliRunner
) -> None:
    document = doc("orders_create")
    document["line_items"][1]["sku"] = "ACME-MUG-11OZ"  # the shop's own name for our mug
    body = json.dumps(document, default=str).encode()
    status, answer = await send(client, body, "orders/create", "ev-unknown")
    assert (status, answer["status"]) == (202, "received")  # acknowledged all the same
    await settle(client)
    parked = inbox_row(engine, answer["delivery"])
    assert parked.state == "parked"
    assert parked.error == "unknown-sku: unknown SKU(s): ACME-MUG-11OZ"
    assert count(engine, "SELECT count(*) FROM orders WHERE channel = 'shop'") == 0

    assert map_and_replay(cli, "shop", "ACME-MUG-11OZ", "MUG-WHT", parked.id) == "applied"
    order = await the_order(client)
    assert [(ln["sku"], ln["quantity"], ln["allocated"]) for ln in order["lines"]] == [
        ("TEE-M-BLK", 2, 2),
        ("MUG-WHT", 1, 1),
    ]
    assert str(inbox_row(engine, parked.id).order_id) == order["id"]


def on_hand(engine: sa.Engine) -> dict[tuple[str, str], tuple[int, int]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT sku, location, on_hand, reserved FROM stock"))
        return {(r.sku, r.location): (r.on_hand, r.reserved) for r in rows}


async def test_a_fulfillment_then_a_refund_with_restock_through_the_door(
    client: Any, shop: str, engine: sa.Engine, sim: str
) -> None:
    """Shopify fulfils the order (fulfillments/create), then refunds one tee, restocked,
    and the mug, not restocked (refunds/create): the refund's lines are numbered from
    the order, read from the shop's Admin API."""
    order_json = json.loads(json.dumps(doc("orders_create"), default=float))
    shopped = httpx.post(f"{sim}/_sim/channels/shop/shopify", json={"orders": [order_json]})
    assert shopped.status_code == 200, shopped.text
    # Captured when placed (Shopify's automatic capture): the shipment records the capture.
    await send(client, changed("orders_create", financial_status="paid"), "orders/create", "ev-c")
    await settle(client)
    _, shipped = await send(client, raw("fulfillments_create"), "fulfillments/create", "ev-f")
    await settle(client)
    assert inbox_row(engine, shipped["delivery"]).state == "applied"
    order = await the_order(client)
    assert order["status"] == "fulfilled"
    assert [(ln["sku"], ln["shipped"]) for ln in order["lines"]] == [
        ("TEE-M-BLK", 2),
        ("MUG-WHT", 1),
    ]
    with engine.connect() as conn:
        shipment = conn.execute(
            sa.text("SELECT location, carrier, tracking_number FROM shipments")
        ).one()
    assert tuple(shipment) == ("WH-EAST", "UPS", "1Z999AA10123456784")
    assert on_hand(engine)[("TEE-M-BLK", "WH-EAST")] == (18, 0)

    _, refunded = await send(client, raw("refunds_create_partial"), "refunds/create", "ev-r")
    await settle(client)
    row = inbox_row(engine, refunded["delivery"])
    assert row.state == "applied", row.error
    order = await the_order(client)
    assert [(ln["sku"], ln["returned"]) for ln in order["lines"]] == [
        ("TEE-M-BLK", 1),
        ("MUG-WHT", 0),
    ]
    # The restocked tee is back on hand where it shipped from: the refund names Shopify's
    # location id, which is no location of ours (and none is made of it). The mug,
    # refunded without a restock, is not back.
    assert on_hand(engine) == {("TEE-M-BLK", "WH-EAST"): (19, 0), ("MUG-WHT", "WH-EAST"): (19, 0)}
    assert count(engine, "SELECT count(*) FROM locations WHERE code = '71983808706'") == 0
    with engine.connect() as conn:
        refunds = conn.execute(
            sa.text("SELECT transaction_id, kind, amount_minor FROM refunds ORDER BY 1")
        ).all()
    # One refund in three parts: the tee's return, the mug's lines, the shipping (4.90 and
    # its 0.39 tax, as Shopify's shipping_refund adjustment says).
    assert [(r.transaction_id, r.kind) for r in refunds] == [
        ("1019283456706", "return"),
        ("1019283456706:1", "partial"),
        ("1019283456706:2", "shipping"),
    ]
    # Each to the cent what Shopify gave back (its refund_line_items): the tee 17.91 and
    # 1.43 of tax — not the 1.44 its first unit's share of the line's 2.87 rounds to —,
    # the mug 11.25 + 0.90, the shipping 5.29; 36.78 in all, Shopify's transaction.
    assert [r.amount_minor for r in refunds] == [1934, 1215, 529]
    assert sum(r.amount_minor for r in refunds) == 3678
    with engine.connect() as conn:
        tee = conn.execute(
            sa.text(
                "SELECT d.net_minor, d.tax_minor, d.lines FROM financial_documents d"
                " JOIN refunds r ON r.id = d.refund_id WHERE r.transaction_id = :tx"
            ),
            {"tx": "1019283456706"},
        ).one()
    assert (tee.net_minor, tee.tax_minor) == (1791, 143)
    assert [(ln["sku"], ln["quantity"], ln["tax"]) for ln in tee.lines] == [("TEE-M-BLK", 1, 143)]
    order = await the_order(client)
    assert order["money"]["refunded"] == order["money"]["credited"] == "36.78"
    # The same refund again (Shopify's retry under another event): stale, nothing more.
    _, again = await send(client, raw("refunds_create_partial"), "refunds/create", "ev-r2")
    await settle(client)
    assert inbox_row(engine, again["delivery"]).state == "stale"


async def test_an_order_captured_later_on_shopify_records_the_capture_and_then_refunds(
    client: Any, shop: str, engine: sa.Engine, sim: str
) -> None:
    """orders/create authorized, fulfilled here, then captured on Shopify (orders/updated
    financial_status paid: Shopify's webhook carries no transactions): the capture is
    recorded against the shipment's invoice, so the refund that follows is applied, not
    parked as "above what was captured". The same update again writes nothing."""
    order_json = json.loads(json.dumps(doc("orders_create"), default=float))
    shopped = httpx.post(f"{sim}/_sim/channels/shop/shopify", json={"orders": [order_json]})
    assert shopped.status_code == 200, shopped.text
    await send(client, raw("orders_create"), "orders/create", "ev-c")
    await settle(client)
    await send(client, raw("fulfillments_create"), "fulfillments/create", "ev-f")
    await settle(client)
    order = await the_order(client)
    assert order["payment"]["status"] == "authorized"
    assert order["money"] == {
        "authorized": "56.13",
        "captured": "0.00",
        "refunded": "0.00",
        "invoiced": "56.13",
        "credited": "0.00",
    }

    paid = changed("orders_create", financial_status="paid", updated_at="2026-11-27T15:00:00Z")
    _, captured = await send(client, paid, "orders/updated", "ev-paid")
    await settle(client)
    row = inbox_row(engine, captured["delivery"])
    assert row.state == "applied", row.error
    with engine.connect() as conn:
        payments = conn.execute(
            sa.text("SELECT kind, transaction_id, source, amount_minor FROM payments")
        ).all()
    assert [tuple(p) for p in payments] == [
        ("capture", f"shop:{EXTERNAL_ID}:capture:20261127T150000.000000Z", "channel:shop", 5613)
    ]
    before = digest(engine)
    _, again = await send(client, paid, "orders/updated", "ev-paid-again")
    await settle(client)
    assert inbox_row(engine, again["delivery"]).state == "stale"
    assert digest(engine)[:-1] == before[:-1]  # nothing but the delivery's own row

    _, refunded = await send(client, raw("refunds_create_partial"), "refunds/create", "ev-r")
    await settle(client)
    row = inbox_row(engine, refunded["delivery"])
    assert row.state == "applied", row.error
    order = await the_order(client)
    assert order["payment"]["status"] == "paid"
    assert order["money"] == {
        "authorized": "56.13",
        "captured": "56.13",
        "refunded": "36.78",
        "invoiced": "56.13",
        "credited": "36.78",
    }


async def test_a_refund_stating_more_than_is_left_of_a_line_is_parked_and_writes_nothing(
    client: Any, shop: str, engine: sa.Engine, sim: str
) -> None:
    """Shopify's refund line says 0.91 of tax for the mug, whose line carries 0.90: above
    what is left to credit of it, the refund is parked whole, naming the figures."""
    order_json = json.loads(json.dumps(doc("orders_create"), default=float))
    shopped = httpx.post(f"{sim}/_sim/channels/shop/shopify", json={"orders": [order_json]})
    assert shopped.status_code == 200, shopped.text
    await send(client, changed("orders_create", financial_status="paid"), "orders/create", "ev-c")
    await settle(client)
    await send(client, raw("fulfillments_create"), "fulfillments/create", "ev-f")
    await settle(client)
    document = doc("refunds_create_partial")
    mug = document["refund_line_items"][1]
    mug["total_tax"] = "0.91"
    mug["total_tax_set"]["presentment_money"]["amount"] = "0.91"
    before = digest(engine)

    _, refunded = await send(
        client, json.dumps(document, default=str).encode(), "refunds/create", "ev-r"
    )
    await settle(client)

    row = inbox_row(engine, refunded["delivery"])
    assert row.state == "parked"
    assert row.error.startswith(
        "conflict: line 2: the channel refunded 11.25 net and 0.91 tax, above what is left to"
        " credit of the line: 11.25 net, 0.90 tax"
    ), row.error
    assert digest(engine)[:-1] == before[:-1]
