"""One correlation id from the door to the actors' log lines: the caller's X-Correlation-ID
(or one made at the door) comes back on the answer, is stored on the order and on its
events, and names the api's request line and the lines an actor logs while delivering the
order's events — each a JSON object, as the api, relay and worker processes write them. A
channel's webhook, applied after its answer, keeps the door's id too."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from ops import logs
from ops.bootstrap import product_app
from simulators.app import init_sim_app
from simulators.server import ServerThread
from tests.factories import CONTRACT_ORDER
from tests.integration.conftest import Keys, stock
from tests.integration.deliveries import deliver_everything
from tests.shopify_docs import SECRET, SHOP, delivery, raw
from tests.webhooks import delivery as inbound_row
from tests.webhooks import post_delivery, settle, webhook_channel, webhook_config

pytestmark = pytest.mark.integration


@pytest.fixture
def json_log(caplog: pytest.LogCaptureFixture) -> Iterator[io.StringIO]:
    """Everything logged at INFO and above, as the processes' JSON handler writes it."""
    caplog.set_level(logging.INFO)
    out = io.StringIO()
    handler = logs.handler("json", out)
    logging.getLogger().addHandler(handler)
    yield out
    logging.getLogger().removeHandler(handler)


def lines_of(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]  # each line one object


async def test_the_callers_correlation_id_is_answered_stored_and_on_the_request_line(
    client: Any, keys: Keys, engine: sa.Engine, json_log: io.StringIO
) -> None:
    await stock(client, keys, {"sku": "TEE-M-BLK", "location": "WH-EAST", "set_on_hand": 10})
    sent = {**Keys.bearer(keys.web), "X-Correlation-ID": "corr-door-1"}
    response = await client.post("/v1/orders", json=CONTRACT_ORDER, headers=sent)
    assert response.status == 201, await response.text()
    assert response.headers["X-Correlation-ID"] == "corr-door-1"
    order_id = (await response.json())["id"]

    shown = await client.get(f"/v1/orders/{order_id}", headers=Keys.bearer(keys.web))
    assert (await shown.json())["correlation_id"] == "corr-door-1"
    with engine.connect() as conn:
        on_events = set(
            conn.execute(
                sa.text("SELECT correlation_id FROM outbox_events WHERE aggregate_id = :o"),
                {"o": order_id},
            ).scalars()
        )
    assert on_events == {"corr-door-1"}

    [placed] = [
        line
        for line in lines_of(json_log)
        if line["logger"] == "ordersync.http.requests"
        and line.get("http_method") == "POST"
        and line.get("http_path") == "/v1/orders"
    ]
    assert placed["correlation_id"] == "corr-door-1"
    assert (placed["level"], placed["http_status"]) == ("INFO", 201)
    assert placed["message"] == "POST /v1/orders 201" and placed["duration_ms"] >= 0
    assert keys.web not in json_log.getvalue()  # the channel's key is never logged


async def test_without_a_correlation_id_the_door_makes_one_and_answers_it(
    client: Any, keys: Keys, json_log: io.StringIO
) -> None:
    await stock(client, keys, {"sku": "TEE-M-BLK", "location": "WH-EAST", "set_on_hand": 10})
    response = await client.post(
        "/v1/orders",
        json=CONTRACT_ORDER,
        headers={**Keys.bearer(keys.web), "X-Correlation-ID": "not a valid id!"},
    )
    assert response.status == 201
    made = response.headers["X-Correlation-ID"]
    assert uuid.UUID(made)  # the malformed one was replaced, not trusted
    shown = await client.get(
        f"/v1/orders/{(await response.json())['id']}", headers=Keys.bearer(keys.web)
    )
    assert (await shown.json())["correlation_id"] == made
    # A problem answer carries it too (and its request line names it).
    refused = await client.get("/v1/orders/not-a-uuid", headers={"X-Correlation-ID": "corr-401"})
    assert refused.status >= 400 and refused.headers["X-Correlation-ID"] == "corr-401"
    [line] = [ln for ln in lines_of(json_log) if ln.get("http_path") == "/v1/orders/not-a-uuid"]
    assert (line["correlation_id"], line["http_status"]) == ("corr-401", refused.status)


async def test_an_actors_log_lines_carry_the_correlation_id_of_the_request(
    client: Any, keys: Keys, engine: sa.Engine, json_log: io.StringIO
) -> None:
    await stock(client, keys, {"sku": "TEE-M-BLK", "location": "WH-EAST", "set_on_hand": 10})
    sent = {**Keys.bearer(keys.web), "X-Correlation-ID": "corr-actor-1"}
    response = await client.post("/v1/orders", json=CONTRACT_ORDER, headers=sent)
    assert response.status == 201
    with ServerThread(init_sim_app(seed=1)) as sim:
        # The WMS fails this order's document once in all: the actor logs the attempt.
        faults = {"fail_matching": [CONTRACT_ORDER["external_id"]]}
        assert httpx.post(f"{sim.url}/_sim/wms/faults", json=faults).status_code == 200
        deliver_everything(engine, sim.url)

    actor_lines = [line for line in lines_of(json_log) if line["logger"] == "ordersync.actors"]
    assert any("failed" in line["message"] for line in actor_lines), actor_lines
    assert {line["correlation_id"] for line in actor_lines} == {"corr-actor-1"}
    text = json_log.getvalue()
    for personal in (CONTRACT_ORDER["customer"]["email"], CONTRACT_ORDER["customer"]["phone"]):
        assert personal not in text


async def test_a_webhooks_order_applied_after_the_answer_carries_the_doors_correlation_id(
    aiohttp_client: Any, keys: Keys, engine: sa.Engine
) -> None:
    client = await aiohttp_client(product_app(engine, webhook_config(), threads=4))
    webhook_channel(engine, "shop", "shopify", secret=SECRET, shop_domain=SHOP)
    for sku in ("TEE-M-BLK", "MUG-WHT"):
        await stock(client, keys, {"sku": sku, "location": "WH-EAST", "set_on_hand": 20})
    body = raw("orders_create")
    sent = delivery(body, "orders/create", **{"X-Correlation-ID": "corr-shop-1"})
    status, answer = await post_delivery(client, "shopify", body, dict(sent.headers))
    assert status == 202, answer
    await settle(client)  # the apply, after the answer, on the api's thread pool

    stored = inbound_row(engine, answer["delivery"])
    assert (stored.state, stored.correlation_id) == ("applied", "corr-shop-1")
    shown = await client.get(f"/v1/orders/{stored.order_id}", headers=Keys.bearer(keys.admin))
    assert (await shown.json())["correlation_id"] == "corr-shop-1"
    with engine.connect() as conn:
        on_events = set(
            conn.execute(
                sa.text("SELECT correlation_id FROM outbox_events WHERE aggregate_id = :o"),
                {"o": str(stored.order_id)},
            ).scalars()
        )
    assert on_events == {"corr-shop-1"}
