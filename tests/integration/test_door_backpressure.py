"""The door's answer does not wait for applying: with every applier thread busy, the next
delivery is still stored and answered 202; past MAX_PENDING_APPLIES a delivery is left
`received` for the sweeper, and is applied by it all the same."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from adapters.http import webhooks
from adapters.http.keys import HttpConfig
from adapters.inbox import Inbox
from tests.integration.conftest import Keys, stock
from tests.webhooks import (
    delivery,
    hmac_headers,
    post_delivery,
    settle,
    webhook_channel,
    webhook_config,
)

SECRET = "wc-backpressure-secret"
TEMPLATE = json.loads(
    (Path(__file__).parent.parent / "fixtures" / "woocommerce" / "order-created.json").read_bytes()
)


@pytest.fixture
def http_config() -> HttpConfig:
    return webhook_config()


@pytest.fixture
async def woo(client: Any, keys: Keys, engine: sa.Engine) -> str:
    webhook_channel(engine, "woo", "woocommerce", secret=SECRET, shop_domain="shop.example.com")
    await stock(
        client,
        keys,
        *({"sku": s, "location": "WH-EAST", "set_on_hand": 50} for s in ("TEE-M-BLK", "TOTE-NAT")),
    )
    return "woo"


async def send_order(client: Any, order_id: int) -> tuple[int, dict[str, Any]]:
    body = json.dumps({**TEMPLATE, "id": order_id, "number": str(order_id)}).encode()
    headers = {
        "X-WC-Webhook-Topic": "order.created",
        "X-WC-Webhook-Source": "https://shop.example.com/",
        "X-WC-Webhook-Delivery-ID": uuid.uuid4().hex,
        **hmac_headers(body, SECRET, "X-WC-Webhook-Signature"),
    }
    return await post_delivery(client, "woocommerce", body, headers, channel="woo")


def orders(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM orders")).scalar_one())


async def test_a_delivery_is_answered_while_every_applier_thread_is_busy(
    client: Any, woo: str, engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered = threading.Barrier(webhooks.APPLY_THREADS + 1, timeout=10)
    release = threading.Event()
    real_apply = Inbox.apply

    threads: set[str] = set()

    def held_apply(self: Inbox, row: int, **options: Any) -> str | None:
        threads.add(threading.current_thread().name)
        if not release.is_set():  # the first APPLY_THREADS applies: held
            entered.wait()  # proves every applier thread is inside an apply
            assert release.wait(10), "the test never released the appliers"
        return real_apply(self, row, **options)

    monkeypatch.setattr(Inbox, "apply", held_apply)
    first = [await send_order(client, 9_000 + i) for i in range(webhooks.APPLY_THREADS)]
    assert [status for status, _ in first] == [202] * webhooks.APPLY_THREADS
    await asyncio.get_running_loop().run_in_executor(None, entered.wait)  # both threads held
    status, answer = await send_order(client, 9_100)
    assert status == 202, answer  # stored and answered though no applier is free
    assert delivery(engine, answer["delivery"]).state == "received"
    release.set()
    await settle(client)
    rows = [delivery(engine, a["delivery"]) for _, a in [*first, (status, answer)]]
    assert [r.state for r in rows] == ["applied"] * (webhooks.APPLY_THREADS + 1)
    assert orders(engine) == webhooks.APPLY_THREADS + 1
    # The door's applies ran on the applier's own pool, never on the requests' pool.
    door_threads = {t for t in threads if not t.startswith("asyncio")}  # settle's sweep
    assert door_threads and all(t.startswith("ordersync-inbox") for t in door_threads)


async def drained(app: Any) -> None:
    """Until the door's applies, and whatever they started after them, are done."""
    while app[webhooks.TASKS]:
        await asyncio.gather(*list(app[webhooks.TASKS]))


async def test_past_the_bound_a_delivery_waits_and_the_drained_applier_takes_it(
    client: Any, woo: str, engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webhooks, "MAX_PENDING_APPLIES", 1)
    entered, release = threading.Event(), threading.Event()
    real_apply = Inbox.apply

    def held_apply(self: Inbox, row: int, **options: Any) -> str | None:
        if not entered.is_set():  # the first apply holds the only slot
            entered.set()
            assert release.wait(10), "the test never released the applier"
        return real_apply(self, row, **options)

    monkeypatch.setattr(Inbox, "apply", held_apply)
    status, first = await send_order(client, 9_200)
    assert status == 202, first
    await asyncio.get_running_loop().run_in_executor(None, entered.wait, 10)
    status, second = await send_order(client, 9_201)
    assert status == 202, second  # answered all the same: it waits `received`
    app = client.server.app
    assert len(app[webhooks.TASKS]) == 1 and app[webhooks.BACKLOG].overflowed
    assert delivery(engine, second["delivery"]).state == "received"
    release.set()
    await drained(app)  # no sweeper in these tests: the applier caught up by itself
    assert [delivery(engine, a["delivery"]).state for a in (first, second)] == ["applied"] * 2
    assert orders(engine) == 2
    assert not app[webhooks.BACKLOG].overflowed
