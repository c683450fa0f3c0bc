"""POST /v1/webhooks/amazon through the real app over real PostgreSQL, the channel's
--api-url at the simulator's SP-API on a real port: an EventBridge ORDER_CHANGE (or the
bare notification an SQS forwarder posts), authenticated by the channel's API key as a
bearer token, stored once by its NotificationId, answered 202, then interpreted by
reading getOrder and every getOrderItems page, and applied as one order in the state
Amazon has it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from adapters.db.rotation import rotate_channel
from adapters.http.keys import HttpConfig
from adapters.http.webhooks import CREDENTIALS as VERIFIERS
from simulators.app import init_sim_app
from simulators.server import ServerThread
from tests.integration.conftest import Keys, stock
from tests.unit.amazon_fixtures import items_of, load, order_payload, raw
from tests.webhooks import (
    channel_order,
    count,
    deliveries,
    delivery,
    map_and_replay,
    one_received_one_duplicate,
    operator_cli,
    order_events,
    parked_for_unknown_sku,
    post_delivery,
    refused_at_both_doors,
    replay,
    settle,
    two_copies_at_once,
    webhook_channel,
    webhook_config,
    written,
)

CHANNEL = "amazon-us"
US_ORDER = "113-4721908-3340257"  # get_order_mfn_us.json: merchant-fulfilled, 3 items
CANCEL_ORDER = "112-9988776-5544332"  # get_order_buyer_cancel.json
FBA_ORDER = "302-5518827-9910754"  # get_order_afn_de.json: fulfilled by Amazon
STATUS_CHANGE = "eventbridge_order_change_status.json"
BUYER_CANCEL = "eventbridge_order_change_buyer_cancel.json"
SQS_AFN = "sqs_order_change_afn.json"  # the bare notification, as an SQS forwarder posts it
CREDENTIALS = {
    "access_token": "Atza|IwEBIsim",
    "marketplace_id": "ATVPDKIKX0DER",
    "seller_id": "A3TH9S8BH6GOGM",
}
OUR_SKUS = (
    "TEE-M-BLK",
    "MUG-WHT-11OZ",
    "STICKER-PACK",
    "LAMP-DESK-BRS",
    "KAFFEE-BOHNEN-1KG",
    "FILTER-PAPIER-100",
)


@pytest.fixture
def http_config() -> HttpConfig:
    return webhook_config()


@pytest.fixture
def sim() -> Iterator[str]:
    with ServerThread(init_sim_app(seed=1)) as server:
        yield server.url


@pytest.fixture
async def amazon(client: Any, keys: Keys, engine: sa.Engine, sim: str) -> str:
    """The amazon-us channel reading the simulator's SP-API; its API key. Ten of each SKU
    the fixtures' orders name, in WH-EAST."""
    key = webhook_channel(
        engine,
        CHANNEL,
        "amazon",
        api_url=f"{sim}/channels/{CHANNEL}",
        credentials=CREDENTIALS,
    )
    await stock(
        client,
        keys,
        *({"sku": sku, "location": "WH-EAST", "set_on_hand": 10} for sku in OUR_SKUS),
    )
    return key


def put_order(
    sim: str, order: dict[str, Any], items: list[Any], *, items_page_size: int = 100
) -> None:
    """What the simulator's SP-API answers for the order from now on (put again: replaced)."""
    body = {"orders": [{"order": order, "items": items}], "items_page_size": items_page_size}
    stored = httpx.post(f"{sim}/_sim/channels/{CHANNEL}/amazon/orders", json=body)
    assert stored.status_code == 200, stored.text


def put(sim: str, name: str, *, items_page_size: int = 100, **changed: Any) -> None:
    """A fixture's order (getOrder's payload with `changed` members) and its items."""
    order = {**order_payload(name), **changed}
    put_order(sim, order, items_of(name), items_page_size=items_page_size)


def notification(name: str, notification_id: str | None = None) -> bytes:
    """A fixture's notification; with another NotificationId, a notification of its own."""
    if notification_id is None:
        return raw(name)
    document = load(name)
    notice = document.get("detail", document)
    notice["NotificationMetadata"]["NotificationId"] = notification_id
    return json.dumps(document).encode()


async def send(
    client: Any, body: bytes, key: str | None, *, channel: str | None = None
) -> tuple[int, dict[str, Any]]:
    """As an EventBridge API destination posts it: its connection's bearer key (None: none)."""
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    return await post_delivery(client, "amazon", body, headers, channel=channel)


async def test_an_order_change_is_answered_202_then_read_page_by_page_and_applied(
    client: Any, amazon: str, engine: sa.Engine, sim: str
) -> None:
    put(sim, "mfn_us", items_page_size=1)  # three getOrderItems pages, one item each
    status, answer = await send(client, notification(STATUS_CHANGE), amazon)
    assert status == 202, answer
    assert answer["status"] == "received"
    await settle(client)
    row = delivery(engine, answer["delivery"])
    assert (row.state, row.topic, row.verification) == ("applied", "ORDER_CHANGE", "api-key")
    assert (row.delivery_id, row.external_id) == ("8b1e0c52-6d0e-4e9b-9c3a-2f1d7a4e5b60", US_ORDER)
    order = await channel_order(client, CHANNEL, US_ORDER)
    assert str(row.order_id) == order["id"]
    assert (order["status"], order["currency"]) == ("allocated", "USD")
    assert order["totals"]["grand_total"] == "62.59"
    assert [
        (ln["sku"], ln["quantity"], ln["unit_price"], ln["discount"], ln["tax"])
        for ln in order["lines"]
    ] == [
        ("TEE-M-BLK", 2, "19.90", "4.00", "2.95"),
        ("MUG-WHT-11OZ", 1, "12.50", "0.00", "1.03"),
        ("STICKER-PACK", 1, "0.00", "0.00", "0.00"),
    ]
    assert order["shipping"] == {"method": "Standard", "amount": "9.98", "tax": "0.33"}
    address = order["shipping_address"]
    assert (address["line1"], address["line2"], address["city"], address["region"]) == (
        "2127 8th Ave",
        "Apt 4B",
        "Seattle",
        "WA",
    )
    assert (address["postal_code"], address["country"]) == ("98121-2706", "US")
    assert order["customer"]["name"] == "Dana Whitfield"
    assert (order["payment"]["method"], order["payment"]["status"]) == ("amazon", "paid")
    # Merchant-fulfilled: our stock is reserved, every unit of it.
    assert sorted((r["sku"], r["quantity"]) for r in order["reservations"]) == [
        ("MUG-WHT-11OZ", 1),
        ("STICKER-PACK", 1),
        ("TEE-M-BLK", 2),
    ]


async def test_an_order_amazon_fulfils_reserves_none_of_our_stock(
    client: Any, amazon: str, engine: sa.Engine, sim: str
) -> None:
    put(sim, "afn_de")
    status, answer = await send(client, notification(SQS_AFN), amazon)
    assert status == 202, answer
    await settle(client)
    assert delivery(engine, answer["delivery"]).state == "applied"
    order = await channel_order(client, CHANNEL, FBA_ORDER)
    assert (order["currency"], order["totals"]["grand_total"]) == ("EUR", "63.96")
    assert [(ln["sku"], ln["quantity"]) for ln in order["lines"]] == [
        ("KAFFEE-BOHNEN-1KG", 3),
        ("FILTER-PAPIER-100", 1),
    ]
    # Recorded as fulfilled by the channel: placed, nothing reserved, nothing for the WMS.
    assert order["status"] == "placed" and order["reservations"] == []
    assert order_events(engine, order["id"]) == ["order.accepted"]
    assert count(engine, "SELECT count(*) FROM orders WHERE fulfilled_by_channel") == 1
    assert count(engine, "SELECT count(*) FROM reservations") == 0
    assert count(engine, "SELECT coalesce(sum(reserved), 0) FROM stock") == 0


async def test_a_buyers_cancellation_request_takes_the_order_down_the_cancel_path(
    client: Any, amazon: str, engine: sa.Engine, sim: str
) -> None:
    put(sim, "buyer_cancel")
    status, answer = await send(client, notification(BUYER_CANCEL), amazon)
    assert status == 202, answer
    await settle(client)
    assert delivery(engine, answer["delivery"]).state == "applied"
    order = await channel_order(client, CHANNEL, CANCEL_ORDER)
    assert order["status"] == "cancelled"
    assert order["reservations"] == []
    assert [(ln["sku"], ln["quantity"], ln["cancelled"]) for ln in order["lines"]] == [
        ("LAMP-DESK-BRS", 1, 1)
    ]
    # Placed and allocated first (the order as Amazon has it), then cancelled, releasing
    # its reservation.
    assert order_events(engine, order["id"]) == [
        "order.accepted",
        "order.allocated",
        "order.cancelled",
        "order.allocated",
    ]
    assert count(engine, "SELECT coalesce(sum(reserved), 0) FROM stock") == 0


@pytest.mark.parametrize(
    "authorization",
    ["missing", "wrong key", "another channel's key", "not a bearer", "the admin token"],
)
async def test_a_wrong_or_missing_bearer_is_401_and_writes_nothing(
    client: Any, amazon: str, keys: Keys, engine: sa.Engine, sim: str, authorization: str
) -> None:
    put(sim, "mfn_us")
    body = notification(STATUS_CHANGE)
    headers = {
        "missing": {},
        "wrong key": {"Authorization": "Bearer osk_ch_000000000000_not-the-key"},
        "another channel's key": Keys.bearer(keys.web),
        "not a bearer": {"Authorization": f"Basic {amazon}"},
        "the admin token": Keys.bearer(keys.admin),
    }[authorization]
    await refused_at_both_doors(client, engine, "amazon", body, headers, CHANNEL)


async def test_a_redelivered_notification_writes_nothing(
    client: Any, amazon: str, engine: sa.Engine, sim: str
) -> None:
    put(sim, "mfn_us")
    body = notification(STATUS_CHANGE)
    first = await send(client, body, amazon)
    await settle(client)
    before = written(engine)
    # EventBridge retries with the same NotificationId, to the bare or the named door.
    again = await send(client, body, amazon)
    named = await send(client, body, amazon, channel=CHANNEL)
    assert first[0] == 202
    duplicate = {"status": "duplicate", "delivery": first[1]["delivery"]}
    assert again == named == (200, duplicate)
    await settle(client)
    assert written(engine) == before


async def test_two_copies_in_flight_together_store_one_delivery_and_one_order(
    client: Any, amazon: str, engine: sa.Engine, sim: str
) -> None:
    put(sim, "mfn_us")
    body = notification(STATUS_CHANGE)
    answers = await two_copies_at_once(engine, lambda: send(client, body, amazon))
    one_received_one_duplicate(answers)
    await settle(client)
    assert len(deliveries(engine, CHANNEL)) == 1
    assert count(engine, "SELECT count(*) FROM orders WHERE channel = :c", c=CHANNEL) == 1
    order = await channel_order(client, CHANNEL, US_ORDER)
    assert sum(r["quantity"] for r in order["reservations"]) == 4  # reserved once


async def test_an_older_last_update_read_after_a_newer_one_is_stale(
    client: Any, amazon: str, engine: sa.Engine, sim: str
) -> None:
    """Two notifications of one order whose reads answered out of order: the newer state
    (a new address, 10:40) is read first, then the older one (10:02:47)."""
    newer_address = {**order_payload("mfn_us")["ShippingAddress"], "AddressLine1": "400 Pine St"}
    put(sim, "mfn_us", LastUpdateDate="2026-11-26T10:40:00Z", ShippingAddress=newer_address)
    newer = await send(client, notification(STATUS_CHANGE, "nid-newer"), amazon)
    await settle(client)
    put(sim, "mfn_us")  # as Amazon had it at 10:02:47
    older = await send(client, notification(STATUS_CHANGE, "nid-older"), amazon)
    await settle(client)
    assert newer[0] == older[0] == 202
    assert delivery(engine, newer[1]["delivery"]).state == "applied"
    assert delivery(engine, older[1]["delivery"]).state == "stale"
    order = await channel_order(client, CHANNEL, US_ORDER)
    assert order["shipping_address"]["line1"] == "400 Pine St"
    assert order["version"] == 1
    assert count(engine, "SELECT count(*) FROM orders WHERE channel = :c", c=CHANNEL) == 1
    assert order_events(engine, order["id"]) == ["order.accepted", "order.allocated"]


async def test_after_a_rotation_the_new_key_and_within_its_grace_the_old_one_verify(
    client: Any, amazon: str, engine: sa.Engine, sim: str
) -> None:
    """EventBridge's connection is updated to the new key some time after the rotation."""
    put(sim, "mfn_us")
    put(sim, "buyer_cancel")
    with engine.begin() as conn:
        rotated = rotate_channel(conn, CHANNEL, grace=timedelta(hours=1))
    assert rotated.key is not None and rotated.key != amazon
    old = await send(client, notification(STATUS_CHANGE), amazon)
    new = await send(client, notification(BUYER_CANCEL), rotated.key)
    assert old[0] == new[0] == 202
    await settle(client)
    assert [
        (row.state, row.verification)
        for row in (delivery(engine, old[1]["delivery"]), delivery(engine, new[1]["delivery"]))
    ] == [("applied", "api-key (previous key)"), ("applied", "api-key")]
    with engine.begin() as conn:  # the grace ended: the old key is no key any more
        conn.execute(sa.text("UPDATE channels SET previous_valid_until = now() - interval '1s'"))
    # Read again, as the door does once its cache is key_cache_ttl_s old.
    client.server.app[VERIFIERS].load(engine, "amazon")
    status, _ = await send(client, notification(STATUS_CHANGE, "nid-after-grace"), amazon)
    assert status == 401


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, database_url: str) -> CliRunner:
    return operator_cli(monkeypatch, database_url)


async def test_an_unknown_seller_sku_is_parked_then_mapped_and_replayed(
    client: Any, amazon: str, keys: Keys, engine: sa.Engine, sim: str, cli: CliRunner
) -> None:
    unknown = {**items_of("mfn_us")[2], "SellerSKU": "AMZ-STICKERS-3"}
    put_order(sim, order_payload("mfn_us"), [*items_of("mfn_us")[:2], unknown])
    status, answer = await send(client, notification(STATUS_CHANGE), amazon)
    assert (status, answer["status"]) == (202, "received")  # acknowledged all the same
    parked = await parked_for_unknown_sku(client, engine, answer, CHANNEL, "AMZ-STICKERS-3")

    assert map_and_replay(cli, CHANNEL, "AMZ-STICKERS-3", "STICKER-PACK", parked.id) == "applied"
    order = await channel_order(client, CHANNEL, US_ORDER)
    assert [(ln["sku"], ln["quantity"], ln["allocated"]) for ln in order["lines"]] == [
        ("TEE-M-BLK", 2, 2),
        ("MUG-WHT-11OZ", 1, 1),
        ("STICKER-PACK", 1, 1),
    ]
    assert order["totals"]["grand_total"] == "62.59"
    assert str(delivery(engine, parked.id).order_id) == order["id"]
    assert replay(cli, parked.id) == "skipped"  # applied: a replay does nothing


async def test_an_order_amazon_does_not_have_yet_parks_until_a_replay_reads_it(
    client: Any, amazon: str, engine: sa.Engine, sim: str, cli: CliRunner
) -> None:
    status, answer = await send(client, notification(STATUS_CHANGE), amazon)
    assert status == 202, answer
    await settle(client)
    parked = delivery(engine, answer["delivery"])
    assert parked.state == "parked"
    assert parked.error is not None and "NotFound" in parked.error
    put(sim, "mfn_us")  # Amazon has it now
    assert replay(cli, parked.id) == "applied"
    order = await channel_order(client, CHANNEL, US_ORDER)
    assert (order["status"], order["totals"]["grand_total"]) == ("allocated", "62.59")
