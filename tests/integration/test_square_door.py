"""POST /v1/webhooks/square through the real app over real PostgreSQL, the channel's
--api-url at the simulator's Square API on a real port: order.created and order.updated,
signed over the channel's --notification-url and the exact body, stored once by their
event_id, answered 202, then interpreted by fetching RetrieveOrder (and the catalog's
SKUs) and applied as one order at Square's version."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from adapters.channels.square import SIGNATURE_HEADER
from adapters.http.keys import HttpConfig
from simulators.app import init_sim_app
from simulators.server import ServerThread
from tests.integration.conftest import Keys, stock
from tests.webhooks import (
    channel_order,
    count,
    deliveries,
    delivery,
    hmac_headers,
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

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "square"
CHANNEL = "square-nyc"
KEY = "Wq1Zk3x8sT5bV0nC2mL7pR4a"  # the subscription's signature key
URL = f"https://hub.example.com/v1/webhooks/square/{CHANNEL}"  # the subscription's URL
LOCATION = "L88917AVBK2S5"
CREDENTIALS = {"access_token": "EAAAl-test-token", "location_id": LOCATION, "store": "STORE-NYC"}
ORDER = "CAISENgvlJ6jLWAzERDzjyHVybY"  # order_shipment_usd*.json: versions 4, 5 and 6
COUNTER_SALE = "kLuDoCgz9oW2fD7MhH5DJRqZm5eZY"  # order_counter_sale_jpy.json
CREATED = "webhook_order_created.json"
UPDATED = "webhook_order_updated.json"
CANCELED = "webhook_order_updated_canceled.json"


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture(name: str) -> Any:
    return json.loads(raw(name), parse_float=Decimal)


def jsonable(document: Any) -> Any:
    """A fixture as the simulator is sent it (its decimals as JSON numbers again)."""
    return json.loads(json.dumps(document, default=str))


@pytest.fixture
def http_config() -> HttpConfig:
    return webhook_config()


@pytest.fixture
def sim() -> Iterator[str]:
    with ServerThread(init_sim_app(seed=1)) as server:
        yield server.url


def put_square(sim: str, what: str, **body: Any) -> None:
    response = httpx.post(f"{sim}/_sim/channels/{CHANNEL}/square/{what}", json=jsonable(body))
    assert response.status_code == 200, response.text


def put_order(sim: str, name: str) -> None:
    """What RetrieveOrder answers for the fixture's order from now on."""
    put_square(sim, "orders", orders=[fixture(name)["order"]])


@pytest.fixture
async def square(client: Any, keys: Keys, engine: sa.Engine, sim: str) -> str:
    """The square-nyc channel (its signature key, its notification URL, its API at the
    simulator, whose catalog names the variations' SKUs); ten of each SKU in WH-EAST."""
    webhook_channel(
        engine,
        CHANNEL,
        "square",
        secret=KEY,
        notification_url=URL,
        api_url=f"{sim}/channels/{CHANNEL}",
        credentials=CREDENTIALS,
    )
    put_square(sim, "catalog", objects=fixture("catalog_objects.json")["objects"])
    await stock(
        client,
        keys,
        *(
            {"sku": sku, "location": "WH-EAST", "set_on_hand": 10}
            for sku in ("TEE-M-BLK", "TOTE-NAT", "STICKER-01")
        ),
    )
    return CHANNEL


def signed(body: bytes, *, key: str = KEY, url: str = URL) -> dict[str, str]:
    """Square's signature: base64 HMAC-SHA256 of the notification URL and the raw body."""
    return hmac_headers(url.encode() + body, key, SIGNATURE_HEADER)


def notification(name: str, event_id: str | None = None) -> bytes:
    """A fixture's notification; with another event_id, a notification of its own."""
    if event_id is None:
        return raw(name)
    return json.dumps({**json.loads(raw(name)), "event_id": event_id}).encode()


async def send(
    client: Any, body: bytes, *, channel: str | None = None, **signing: Any
) -> tuple[int, dict[str, Any]]:
    return await post_delivery(client, "square", body, signed(body, **signing), channel=channel)


async def test_an_order_created_is_answered_202_then_fetched_and_applied(
    client: Any, square: str, engine: sa.Engine, sim: str
) -> None:
    put_order(sim, "order_shipment_usd.json")  # version 4: what Square has by now
    status, answer = await send(client, notification(CREATED))
    assert status == 202, answer
    assert answer["status"] == "received"
    await settle(client)
    row = delivery(engine, answer["delivery"])
    assert (row.state, row.topic, row.verification) == ("applied", "order.created", "hmac-sha256")
    assert (row.delivery_id, row.external_id) == ("4b8e5c91-9f17-4cf1-900a-4a0629f81add", ORDER)
    order = await channel_order(client, CHANNEL, ORDER)
    assert str(row.order_id) == order["id"]
    assert (order["status"], order["currency"]) == ("allocated", "USD")
    assert order["totals"]["grand_total"] == "75.11"
    assert [
        (ln["sku"], ln["quantity"], ln["unit_price"], ln["discount"], ln["tax"])
        for ln in order["lines"]
    ] == [
        ("TEE-M-BLK", 2, "25.00", "5.00", "3.99"),  # SKUs from the catalog's variations
        ("TOTE-NAT", 1, "18.00", "0.00", "1.60"),
        ("STICKER-01", 3, "0.00", "0.00", "0.00"),
    ]
    assert order["shipping"] == {"method": "shipment", "amount": "5.99", "tax": "0.53"}
    address = order["shipping_address"]
    assert (address["line1"], address["line2"], address["city"], address["region"]) == (
        "350 5th Ave",
        "Apt 2B",
        "New York",
        "NY",
    )
    assert (address["postal_code"], address["country"]) == ("10118", "US")
    assert (order["customer"]["email"], order["customer"]["name"]) == (
        "jose.pena@example.com",
        "José Peña Núñez",
    )
    assert order["payment"]["status"] == "paid"
    assert sum(r["quantity"] for r in order["reservations"]) == 6


async def test_a_sale_completed_at_the_counter_is_a_pos_sale_at_the_channels_store(
    client: Any, square: str, keys: Keys, engine: sa.Engine, sim: str
) -> None:
    put_order(sim, "order_counter_sale_jpy.json")
    await stock(
        client,
        keys,
        {"sku": "MATCHA-LATTE-TO", "location": "STORE-NYC", "set_on_hand": 10},
        {"sku": "DORAYAKI-TSUBU", "location": "STORE-NYC", "set_on_hand": 10},
    )
    created = json.loads(raw(CREATED))
    created["event_id"] = "counter-sale-1"
    created["data"]["id"] = COUNTER_SALE
    created["data"]["object"]["order_created"].update(order_id=COUNTER_SALE, state="COMPLETED")
    status, answer = await send(client, json.dumps(created).encode())
    assert status == 202, answer
    await settle(client)
    assert delivery(engine, answer["delivery"]).state == "applied"
    order = await channel_order(client, CHANNEL, COUNTER_SALE)
    assert (order["status"], order["currency"]) == ("fulfilled", "JPY")
    assert order["totals"]["grand_total"] == "1447"
    assert sorted((ln["sku"], ln["quantity"]) for ln in order["lines"]) == [
        ("DORAYAKI-TSUBU", 1),
        ("MATCHA-LATTE-TO", 2),
    ]
    # Sold over the counter: out of the store's stock at once.
    with engine.connect() as conn:
        on_hand = conn.execute(
            sa.text("SELECT sku, on_hand FROM stock WHERE location = 'STORE-NYC' ORDER BY sku")
        ).all()
    assert [tuple(row) for row in on_hand] == [("DORAYAKI-TSUBU", 9), ("MATCHA-LATTE-TO", 8)]


@pytest.mark.parametrize(
    "tamper",
    [
        "missing",
        "wrong key",
        "over the body without the URL",
        "over another URL",
        "re-serialized JSON",
    ],
)
async def test_a_bad_or_missing_signature_is_401_and_writes_nothing(
    client: Any, square: str, engine: sa.Engine, sim: str, tamper: str
) -> None:
    put_order(sim, "order_shipment_usd.json")
    body = notification(CREATED)
    sent, headers = body, signed(body)
    if tamper == "missing":
        headers = {}
    elif tamper == "wrong key":
        headers = signed(body, key="not-the-signature-key")
    elif tamper == "over the body without the URL":
        headers = hmac_headers(body, KEY, SIGNATURE_HEADER)
    elif tamper == "over another URL":
        headers = signed(body, url=URL.replace(CHANNEL, "square-sf"))
    else:  # the same notification, other bytes: Square signed the bytes it sent
        sent = json.dumps(json.loads(body), separators=(",", ":")).encode()
        assert json.loads(sent) == json.loads(body) and sent != body
    await refused_at_both_doors(client, engine, "square", sent, headers, CHANNEL)


async def test_a_redelivered_event_writes_nothing(
    client: Any, square: str, engine: sa.Engine, sim: str
) -> None:
    put_order(sim, "order_shipment_usd.json")
    body = notification(CREATED)
    first = await send(client, body)
    await settle(client)
    before = written(engine)
    again = await send(client, body)
    named = await send(client, body, channel=CHANNEL)
    assert first[0] == 202
    duplicate = {"status": "duplicate", "delivery": first[1]["delivery"]}
    assert again == named == (200, duplicate)
    await settle(client)
    assert written(engine) == before


async def test_two_copies_in_flight_together_store_one_delivery_and_one_order(
    client: Any, square: str, engine: sa.Engine, sim: str
) -> None:
    put_order(sim, "order_shipment_usd.json")
    body = notification(CREATED)
    answers = await two_copies_at_once(engine, lambda: send(client, body))
    one_received_one_duplicate(answers)
    await settle(client)
    assert len(deliveries(engine, CHANNEL)) == 1
    assert count(engine, "SELECT count(*) FROM orders WHERE channel = :c", c=CHANNEL) == 1


async def test_an_update_before_its_create_and_an_older_version_after_a_newer_one_are_stale(
    client: Any, square: str, engine: sa.Engine, sim: str
) -> None:
    """Square's version decides: order.updated (version 5, one tee fewer) is read before
    order.created (whose fetch answers version 4), then the cancellation (version 6)."""
    put_order(sim, "order_shipment_usd_v5.json")
    updated = await send(client, notification(UPDATED))
    await settle(client)
    put_order(sim, "order_shipment_usd.json")  # a read answered by a replica behind
    created = await send(client, notification(CREATED))
    await settle(client)
    states = [delivery(engine, a["delivery"]).state for _, a in (updated, created)]
    assert states == ["applied", "stale"]
    order = await channel_order(client, CHANNEL, ORDER)
    assert [(ln["sku"], ln["quantity"]) for ln in order["lines"]] == [
        ("TEE-M-BLK", 1),
        ("TOTE-NAT", 1),
        ("STICKER-01", 3),
    ]
    assert (order["version"], order["totals"]["grand_total"]) == (1, "50.62")

    put_order(sim, "order_shipment_usd_canceled_v6.json")
    cancelled = await send(client, notification(CANCELED))
    put_order(sim, "order_shipment_usd_v5.json")
    late = await send(client, notification(UPDATED, "a-late-copy-of-version-5"))
    await settle(client)
    assert delivery(engine, cancelled[1]["delivery"]).state == "applied"
    assert delivery(engine, late[1]["delivery"]).state == "stale"
    order = await channel_order(client, CHANNEL, ORDER)
    assert order["status"] == "cancelled" and order["reservations"] == []
    assert count(engine, "SELECT count(*) FROM orders WHERE channel = :c", c=CHANNEL) == 1
    assert order_events(engine, order["id"]) == [
        "order.accepted",
        "order.allocated",
        "order.cancelled",
        "order.allocated",
    ]


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, database_url: str) -> CliRunner:
    return operator_cli(monkeypatch, database_url)


async def test_an_unknown_sku_is_parked_then_mapped_and_replayed(
    client: Any, square: str, engine: sa.Engine, sim: str, cli: CliRunner
) -> None:
    # The seller's catalog names the tote by a SKU of its own.
    objects = fixture("catalog_objects.json")["objects"]
    [tote] = [o for o in objects if o["item_variation_data"]["sku"] == "TOTE-NAT"]
    tote["item_variation_data"]["sku"] = "SQ-TOTE-NATURAL"
    put_square(sim, "catalog", objects=[tote])
    put_order(sim, "order_shipment_usd.json")
    status, answer = await send(client, notification(CREATED))
    assert (status, answer["status"]) == (202, "received")  # acknowledged all the same
    parked = await parked_for_unknown_sku(client, engine, answer, CHANNEL, "SQ-TOTE-NATURAL")

    assert map_and_replay(cli, CHANNEL, "SQ-TOTE-NATURAL", "TOTE-NAT", parked.id) == "applied"
    order = await channel_order(client, CHANNEL, ORDER)
    assert [(ln["sku"], ln["quantity"], ln["allocated"]) for ln in order["lines"]] == [
        ("TEE-M-BLK", 2, 2),
        ("TOTE-NAT", 1, 1),
        ("STICKER-01", 3, 3),
    ]
    assert order["totals"]["grand_total"] == "75.11"
    assert str(delivery(engine, parked.id).order_id) == order["id"]
    assert replay(cli, parked.id) == "skipped"


async def test_an_order_square_does_not_have_yet_parks_until_a_replay_fetches_it(
    client: Any, square: str, engine: sa.Engine, sim: str, cli: CliRunner
) -> None:
    status, answer = await send(client, notification(CREATED))
    assert status == 202, answer
    await settle(client)
    parked = delivery(engine, answer["delivery"])
    assert (parked.state, parked.error) == ("parked", f"Square has no order {ORDER} (404)")
    put_order(sim, "order_shipment_usd.json")  # Square answers for it now
    assert replay(cli, parked.id) == "applied"
    order = await channel_order(client, CHANNEL, ORDER)
    assert (order["status"], order["totals"]["grand_total"]) == ("allocated", "75.11")
