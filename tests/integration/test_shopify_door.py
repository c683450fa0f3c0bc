"""POST /v1/webhooks/shopify through the real app over real PostgreSQL: Shopify's own
orders/create and orders/updated, verified over the exact bytes with the shop's secret,
found by X-Shopify-Shop-Domain, stored once and applied as one order in its final state."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa

from adapters.http.keys import HttpConfig
from tests.db_state import DIGEST
from tests.integration.conftest import Keys, stock
from tests.shopify_docs import SECRET, SHOP, delivery, raw
from tests.webhooks import delivery as inbox_row
from tests.webhooks import post_delivery, settle, webhook_channel, webhook_config

EXTERNAL_ID = "5820334194882"  # orders_create.json's id


@pytest.fixture
def http_config() -> HttpConfig:
    return webhook_config()


@pytest.fixture
async def shop(client: Any, keys: Keys, engine: sa.Engine) -> str:
    webhook_channel(engine, "shop", "shopify", secret=SECRET, shop_domain=SHOP)
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
