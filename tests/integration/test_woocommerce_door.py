"""POST /v1/webhooks/woocommerce through the real app over real PostgreSQL: verified over
the exact bytes, stored once, applied after the answer as one order in its final state."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from adapters.http.keys import HttpConfig
from tests.integration.conftest import Keys, stock
from tests.webhooks import (
    deliveries,
    delivery,
    hmac_headers,
    post_delivery,
    settle,
    webhook_channel,
    webhook_config,
    written,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "woocommerce"
SECRET = "wc-webhook-secret-4f1c"
SITE = "https://shop.example.com/"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def wc_headers(
    body: bytes,
    *,
    topic: str = "order.updated",
    delivery_id: str | None = None,
    secret: str = SECRET,
    source: str | None = SITE,
) -> dict[str, str]:
    resource, _, event = topic.partition(".")
    headers = {
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Resource": resource,
        "X-WC-Webhook-Event": event,
        "X-WC-Webhook-ID": "12",
        "X-WC-Webhook-Delivery-ID": delivery_id or uuid.uuid4().hex,
        "User-Agent": "WooCommerce/8.3.1 Hookshot (WordPress/6.4.2)",
        **hmac_headers(body, secret, "X-WC-Webhook-Signature"),
    }
    if source is not None:
        headers["X-WC-Webhook-Source"] = source
    return headers


async def send(
    client: Any, name_or_body: str | bytes, **options: Any
) -> tuple[int, dict[str, Any]]:
    body = fixture(name_or_body) if isinstance(name_or_body, str) else name_or_body
    channel = options.pop("channel", None)
    return await post_delivery(
        client, "woocommerce", body, wc_headers(body, **options), channel=channel
    )


@pytest.fixture
def http_config() -> HttpConfig:
    return webhook_config()


@pytest.fixture
async def woo(client: Any, keys: Keys, engine: sa.Engine) -> str:
    """A WooCommerce channel "woo" (shop.example.com) and stock of the fixtures' SKUs."""
    webhook_channel(engine, "woo", "woocommerce", secret=SECRET, shop_domain="shop.example.com")
    await stock(
        client,
        keys,
        *(
            {"sku": sku, "location": "WH-EAST", "set_on_hand": 20}
            for sku in ("TEE-M-BLK", "TOTE-NAT", "HOODIE-L-GRY")
        ),
    )
    return "woo"


digest = written  # every table a delivery may write (tests/webhooks.py)


async def order_of(client: Any, external_id: str) -> dict[str, Any]:
    response = await client.get(
        f"/v1/orders?channel=woo&external_id={external_id}", headers=Keys.bearer(Keys.admin)
    )
    [order] = (await response.json())["items"]
    return dict(order)


def count(engine: sa.Engine, sql: str, **params: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text(sql), params).scalar_one())


async def test_a_signed_order_is_answered_202_then_applied_as_its_canonical_order(
    client: Any, woo: str, engine: sa.Engine
) -> None:
    status, answer = await send(client, "order-created.json", topic="order.created")
    assert status == 202, answer
    assert answer["status"] == "received" and isinstance(answer["delivery"], int)
    await settle(client)
    row = delivery(engine, answer["delivery"])
    assert (row.state, row.external_id, row.verification) == ("applied", "4127", "hmac-sha256")
    assert row.body == fixture("order-created.json")
    order = await order_of(client, "4127")
    assert str(row.order_id) == order["id"]
    assert order["status"] == "allocated"
    assert order["totals"]["grand_total"] == "63.93"
    assert order["currency"] == "EUR"
    assert [
        (ln["sku"], ln["quantity"], ln["unit_price"], ln["discount"], ln["tax"])
        for ln in order["lines"]
    ] == [
        ("TEE-M-BLK", 2, "19.90", "3.98", "8.24"),
        ("TOTE-NAT", 1, "12.50", "1.25", "2.59"),
    ]
    assert order["shipping_address"]["line2"] == "3º Esq."
    assert order["customer"]["email"] == "ana.silva@example.com"
    assert order["payment"]["status"] == "paid"


@pytest.mark.parametrize(
    "tamper",
    ["missing", "wrong secret", "another body's", "re-serialized JSON"],
)
async def test_a_bad_or_missing_signature_is_401_and_writes_nothing(
    client: Any, woo: str, engine: sa.Engine, tamper: str
) -> None:
    body = fixture("order-created.json")
    headers = wc_headers(body)
    sent = body
    if tamper == "missing":
        del headers["X-WC-Webhook-Signature"]
    elif tamper == "wrong secret":
        headers = wc_headers(body, secret="not-the-secret")
    elif tamper == "another body's":
        headers = wc_headers(fixture("order-cancelled.json"))
    else:  # the same document, other bytes: signed bytes are what counts
        sent = json.dumps(json.loads(body), separators=(",", ":")).encode()
        assert json.loads(sent) == json.loads(body) and sent != body
    before = digest(engine)
    status, answer = await post_delivery(client, "woocommerce", sent, headers)
    assert status == 401, answer
    assert answer["title"] == "Unauthorized"
    assert digest(engine) == before


async def test_the_unsigned_ping_of_a_new_webhook_is_200_and_writes_nothing(
    client: Any, woo: str, engine: sa.Engine
) -> None:
    before = digest(engine)
    status, answer = await post_delivery(
        client,
        "woocommerce",
        b"webhook_id=12",
        {},
        content_type="application/x-www-form-urlencoded",
    )
    assert (status, answer) == (200, {"status": "ping"})
    assert digest(engine) == before
    # Anything else unsigned is no ping.
    status, _ = await post_delivery(
        client,
        "woocommerce",
        b"webhook_id=12&x=1",
        {},
        content_type="application/x-www-form-urlencoded",
    )
    assert status == 401


async def test_a_redelivery_writes_nothing_and_names_the_stored_delivery(
    client: Any, woo: str, engine: sa.Engine
) -> None:
    body = fixture("order-created.json")
    headers = wc_headers(body)
    first = await post_delivery(client, "woocommerce", body, headers)
    await settle(client)
    before = digest(engine)
    again = await post_delivery(client, "woocommerce", body, headers)
    assert first[0] == 202 and again == (
        200,
        {"status": "duplicate", "delivery": first[1]["delivery"]},
    )
    await settle(client)
    assert digest(engine) == before


async def test_two_copies_at_the_same_instant_write_one_delivery_and_one_order(
    client: Any, woo: str, engine: sa.Engine
) -> None:
    body = fixture("order-created.json")
    headers = wc_headers(body)
    # Both requests wait for each other at the inbox insert: the database's unique key,
    # not a check before it, decides which one stores the delivery.
    barrier, reached = threading.Barrier(2, timeout=10), []

    def at_insert(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().startswith("INSERT INTO inbound_deliveries"):
            reached.append(statement)
            barrier.wait()

    sa.event.listen(engine, "before_cursor_execute", at_insert)
    try:
        answers = await asyncio.gather(
            post_delivery(client, "woocommerce", body, headers),
            post_delivery(client, "woocommerce", body, headers),
        )
    finally:
        sa.event.remove(engine, "before_cursor_execute", at_insert)
    assert len(reached) == 2
    assert sorted(status for status, _ in answers) == [200, 202]
    assert len({answer["delivery"] for _, answer in answers}) == 1
    await settle(client)
    assert len(deliveries(engine, "woo")) == 1
    assert count(engine, "SELECT count(*) FROM orders WHERE channel = 'woo'") == 1


async def test_an_update_before_its_create_makes_the_order_as_the_update_says(
    client: Any, woo: str, engine: sa.Engine
) -> None:
    # order.updated (paid, 10:00:04) arrives before order.created (pending, 10:00:00).
    later = await send(client, "order-created.json", topic="order.updated")
    await settle(client)
    earlier = await send(client, "order-pending.json", topic="order.created")
    await settle(client)
    assert delivery(engine, later[1]["delivery"]).state == "applied"
    assert delivery(engine, earlier[1]["delivery"]).state == "stale"
    order = await order_of(client, "4127")
    assert order["payment"]["status"] == "paid" and order["version"] == 1


async def test_out_of_order_updates_end_in_the_newest_state(
    client: Any, woo: str, engine: sa.Engine
) -> None:
    # Newest first: cancelled (10:10), then the address change (10:05), then the create.
    sent = [
        await send(client, name)
        for name in ("order-cancelled.json", "order-updated-address.json", "order-created.json")
    ]
    await settle(client)
    assert [delivery(engine, a["delivery"]).state for _, a in sent] == ["applied", "stale", "stale"]
    order = await order_of(client, "4127")
    assert order["status"] == "cancelled"
    assert count(engine, "SELECT count(*) FROM orders WHERE channel = 'woo'") == 1
    # Created cancelled: nothing reserved, and nothing of it went towards the WMS.
    assert count(engine, "SELECT count(*) FROM reservations") == 0
    assert (
        count(
            engine,
            "SELECT count(*) FROM outbox_events WHERE aggregate_id = :o"
            " AND event_type IN ('order.allocated', 'order.backordered')",
            o=order["id"],
        )
        == 0
    )
    events = _order_events(engine, order["id"])
    assert events == ["order.accepted", "order.cancelled"]


def _order_events(engine: sa.Engine, order_id: str) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.text(
                    "SELECT event_type FROM outbox_events WHERE aggregate_type = 'order'"
                    " AND aggregate_id = :o ORDER BY id"
                ),
                {"o": order_id},
            ).scalars()
        )


async def test_updates_in_order_change_the_address_then_lower_a_quantity_then_cancel(
    client: Any, woo: str, engine: sa.Engine
) -> None:
    await send(client, "order-created.json", topic="order.created")
    await settle(client)
    await send(client, "order-updated-address.json")
    await settle(client)
    order = await order_of(client, "4127")
    assert order["shipping_address"]["line1"] == "Avenida da Liberdade 110"
    await send(client, "order-updated-lower-quantity.json")
    await settle(client)
    order = await order_of(client, "4127")
    assert [ln["quantity"] - ln["cancelled"] for ln in order["lines"]] == [1, 1]
    assert sum(r["quantity"] for r in order["reservations"]) == 2
    await send(client, "order-cancelled.json")
    await settle(client)
    order = await order_of(client, "4127")
    assert order["status"] == "cancelled" and order["reservations"] == []
    assert _order_events(engine, order["id"]) == [
        "order.accepted",
        "order.allocated",
        "order.amended",
        "order.allocated",
        "order.amended",
        "order.allocated",
        "order.cancelled",
        "order.allocated",
    ]


@pytest.mark.parametrize("first", ["address", "cancelled"])
async def test_a_tie_within_one_second_never_undoes_a_cancellation(
    client: Any, woo: str, engine: sa.Engine, first: str
) -> None:
    """Both at 10:05:00: the address change and the cancellation, in either order."""
    await send(client, "order-created.json", topic="order.created")
    await settle(client)
    names = {
        "address": "order-updated-address.json",
        "cancelled": "order-cancelled-same-second.json",
    }
    second = "cancelled" if first == "address" else "address"
    await send(client, names[first])
    await settle(client)
    _, answer = await send(client, names[second])
    await settle(client)
    assert (await order_of(client, "4127"))["status"] == "cancelled"
    row = delivery(engine, answer["delivery"])
    if second == "address":  # a tie with other content is applied, but cannot reopen it
        assert (row.state, row.error) == (
            "ignored",
            "the order is cancelled: a channel cannot reopen it",
        )


async def test_a_tie_with_the_same_content_in_other_bytes_is_stale(
    client: Any, woo: str, engine: sa.Engine
) -> None:
    await send(client, "order-created.json", topic="order.created")
    await settle(client)
    before = count(engine, "SELECT count(*) FROM outbox_events")
    # The same order at the same second, re-serialized (and signed as sent): same version.
    again = json.dumps(json.loads(fixture("order-created.json")), indent=None).encode()
    status, answer = await send(client, again)
    await settle(client)
    assert status == 202
    assert delivery(engine, answer["delivery"]).state == "stale"
    assert count(engine, "SELECT count(*) FROM outbox_events") == before


async def test_a_higher_quantity_is_parked_with_its_reason(
    client: Any, woo: str, engine: sa.Engine
) -> None:
    await send(client, "order-created.json", topic="order.created")
    await settle(client)
    status, answer = await send(client, "order-updated-higher-quantity.json")
    await settle(client)
    assert status == 202
    row = delivery(engine, answer["delivery"])
    assert row.state == "parked" and row.attempts == 1
    assert "a higher quantity cannot be applied" in (row.error or "")
    assert (
        count(
            engine,
            "SELECT count(*) FROM channel_order_versions WHERE version_at > '2026-11-26T10:05:00Z'",
        )
        == 0
    )


async def test_the_named_door_takes_only_its_own_active_channel(
    client: Any, woo: str, engine: sa.Engine
) -> None:
    status, _ = await send(client, "order-created.json", channel="woo", source=None)
    assert status == 202
    # An unknown channel, or another's secret, is the bad signature's 401: names are not probed.
    webhook_channel(engine, "woo-2", "woocommerce", secret="other-secret", shop_domain="b.example")
    assert (await send(client, "order-gbp.json", channel="nope"))[0] == 401
    assert (await send(client, "order-gbp.json", channel="woo-2"))[0] == 401
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE channels SET disabled_at = now() WHERE name = 'woo-2'"))
    assert (await send(client, "order-gbp.json", channel="woo-2", secret="other-secret"))[0] == 401


async def test_the_bare_door_finds_the_channel_by_its_site_or_by_its_secret(
    client: Any, woo: str, engine: sa.Engine
) -> None:
    webhook_channel(
        engine, "woo-uk", "woocommerce", secret="uk-secret", shop_domain="https://uk.example.com"
    )
    by_site = await send(
        client, "order-gbp.json", secret="uk-secret", source="HTTPS://UK.example.com/"
    )
    by_secret = await send(client, "order-jpy.json", secret="uk-secret", source=None)
    assert by_site[0] == by_secret[0] == 202
    assert {delivery(engine, a["delivery"]).channel for _, a in (by_site, by_secret)} == {"woo-uk"}
    # The site says uk, the signature is the other channel's: no channel verifies it.
    assert (await send(client, "order-gbp.json", source="https://uk.example.com/"))[0] == 401


async def test_credentials_are_not_stored_with_the_headers(
    client: Any, woo: str, engine: sa.Engine
) -> None:
    body = fixture("order-created.json")
    headers = {**wc_headers(body), "Authorization": "Bearer whatever", "Cookie": "a=b"}
    _, answer = await post_delivery(client, "woocommerce", body, headers)
    stored = delivery(engine, answer["delivery"]).headers
    assert {name.lower() for name in stored} >= {"x-wc-webhook-signature", "x-wc-webhook-topic"}
    assert not {"authorization", "cookie"} & {name.lower() for name in stored}


async def test_a_verified_delivery_it_cannot_read_is_parked_under_its_digest(
    client: Any, woo: str, engine: sa.Engine
) -> None:
    body = fixture("order-created.json")
    headers = wc_headers(body)
    del headers["X-WC-Webhook-Delivery-ID"]
    status, answer = await post_delivery(client, "woocommerce", body, headers)
    assert (status, answer["status"]) == (202, "parked")
    row = delivery(engine, answer["delivery"])
    assert row.delivery_id.startswith("sha256:") and "Delivery-ID" in (row.error or "")
    assert (await post_delivery(client, "woocommerce", body, headers))[1]["status"] == "duplicate"


async def test_doors_answer_404_for_kinds_without_one_and_413_for_a_big_body(
    client: Any, woo: str
) -> None:
    for kind in ("nope", "canonical"):
        status, _ = await post_delivery(client, kind, b"{}", {})
        assert status == 404
    body = b'{"pad": "' + b"x" * (70 * 1024) + b'"}'
    status, answer = await post_delivery(client, "woocommerce", body, wc_headers(body))
    assert status == 413, answer


async def test_the_sweeper_applies_a_delivery_left_received(
    aiohttp_client: Any, engine: sa.Engine, keys: Keys
) -> None:
    """A crash between the door's commit and its apply: the API process's sweeper finds
    the row still received and applies it."""
    from adapters.db import inbound
    from ops.bootstrap import product_app

    webhook_channel(engine, "woo", "woocommerce", secret=SECRET, shop_domain="shop.example.com")
    body = fixture("order-gbp.json")
    with engine.begin() as conn:
        stock_sql = "INSERT INTO skus (sku) VALUES ('HOODIE-L-GRY') ON CONFLICT DO NOTHING"
        conn.execute(sa.text(stock_sql))
        row, _ = inbound.store(
            conn,
            channel="woo",
            kind="woocommerce",
            delivery_id="left-behind",
            topic="order.created",
            headers=wc_headers(body),
            body=body,
            verification="hmac-sha256",
        )
        conn.execute(
            sa.text("UPDATE inbound_deliveries SET received_at = now() - interval '1 minute'")
        )
    config = webhook_config(inbound_sweep_s=0.05, inbound_sweep_after_s=10.0)
    await aiohttp_client(product_app(engine, config, threads=4))
    for _ in range(200):
        if delivery(engine, row).state != "received":
            break
        await asyncio.sleep(0.05)
    assert delivery(engine, row).state == "applied"
