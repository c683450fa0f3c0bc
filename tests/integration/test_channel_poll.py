"""`ordersync reconcile --channel` applies what a channel lists through the door's own
path (adapters/channels/polled.py: an inbound delivery per listed order version, applied
by the inbox with the business-version guard), against the simulator's SP-API and
Shopify Admin API over real HTTP and real PostgreSQL: a poll and a notification of one
order version write it once, whichever comes first; a poll alone creates the order; a
later LastUpdateDate updates it; an FBA order reserves nothing."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from adapters.db import registry
from adapters.db.channel_credentials import seal_credentials
from adapters.db.sku_mappings import map_sku
from adapters.db.uow import SqlUnitOfWork
from adapters.http.keys import HttpConfig
from adapters.secretbox import SecretBox
from domain.commands import AdjustInventory
from domain.services import adjust_inventory
from ops.reconcile_channel import ChannelReport, reconcile_channel
from ops.wiring import ROUTING
from simulators.app import init_sim_app
from simulators.server import ServerThread
from tests.db_state import DIGEST
from tests.shopify_docs import doc
from tests.unit.amazon_fixtures import items_of, order_payload, raw
from tests.webhooks import SECRET_KEY, deliveries, post_delivery, settle, webhook_config

pytestmark = pytest.mark.integration

AMAZON = "amazon-us"
SHOPIFY = "acme"
ORDER = "113-4721908-3340257"  # the fixture mfn_us, and the notification's order
LISTED_AT = "2026-11-26T10:02:47+00:00"  # its LastUpdateDate
FBA = "113-0000001-0000001"
CREDENTIALS = {"marketplace_id": "ATVPDKIKX0DER", "seller_id": "A3TH9S8BH6GOGM"}
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)
SKUS = ("TEE-M-BLK", "MUG-WHT-11OZ", "STICKER-PACK", "MUG-WHT")


@pytest.fixture
def sim() -> Iterator[str]:
    with ServerThread(init_sim_app(seed=1)) as server:
        yield server.url


@pytest.fixture
def http_config() -> HttpConfig:
    return webhook_config()


@pytest.fixture
def amazon(engine: sa.Engine, sim: str) -> str:
    """An Amazon channel on the simulator (its API key), and 20 of every SKU at WH-EAST."""
    sealed = seal_credentials(SecretBox(SECRET_KEY), CREDENTIALS)
    with engine.begin() as conn:
        key = registry.add_channel(
            conn,
            AMAZON,
            "amazon",
            api_url=f"{sim}/channels/{AMAZON}",
            credentials_ciphertext=sealed,
        )
        registry.add_location(conn, "WH-EAST", "warehouse", 10)
    stock = [{"sku": s, "location": "WH-EAST", "set_on_hand": 20} for s in SKUS]
    adjust_inventory(
        SqlUnitOfWork(engine, routing=ROUTING),
        AdjustInventory.model_validate({"adjustments": stock}),
    )
    return key


def amazon_holds(sim: str, *orders: dict[str, Any]) -> None:
    """The simulator's Amazon channel holds these orders ({"order", "items"}) now."""
    reply = httpx.post(f"{sim}/_sim/channels/{AMAZON}/amazon/orders", json={"orders": orders})
    assert reply.status_code == 200, reply.text


def mfn_us(**changes: Any) -> dict[str, Any]:
    return {"order": {**order_payload("mfn_us"), **changes}, "items": items_of("mfn_us")}


def poll(engine: sa.Engine, channel: str = AMAZON) -> ChannelReport:
    return reconcile_channel(engine, channel, since=LONG_AGO, secret_box=SecretBox(SECRET_KEY))


def outcomes(report: ChannelReport) -> dict[str, str]:
    return {r.external_id: r.outcome for r in report.results}


def digest(engine: sa.Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text(DIGEST)))


def order_row(engine: sa.Engine, channel: str, external_id: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT * FROM orders WHERE channel = :c AND external_id = :e"),
            {"c": channel, "e": external_id},
        ).one()


def reserved(engine: sa.Engine, order_id: Any) -> int:
    with engine.connect() as conn:
        query = "SELECT coalesce(sum(quantity), 0) FROM reservations WHERE order_id = :o"
        return int(conn.execute(sa.text(query), {"o": order_id}).scalar_one())


def events_of(engine: sa.Engine, order_id: Any) -> list[str]:
    with engine.connect() as conn:
        query = "SELECT event_type FROM outbox_events WHERE aggregate_id = :o ORDER BY id"
        return list(conn.execute(sa.text(query), {"o": str(order_id)}).scalars())


async def notify(client: Any, key: str) -> None:
    """Amazon's ORDER_CHANGE for ORDER, through the door, applied."""
    body = raw("eventbridge_order_change_status.json")
    status, answer = await post_delivery(client, "amazon", body, {"Authorization": f"Bearer {key}"})
    assert status == 202 and answer["status"] == "received", answer
    await settle(client)


async def test_a_poll_after_the_notification_of_the_same_version_changes_nothing(
    client: Any, engine: sa.Engine, sim: str, amazon: str
) -> None:
    amazon_holds(sim, mfn_us())
    await notify(client, amazon)
    before = digest(engine)

    report = poll(engine)

    assert outcomes(report) == {ORDER: "present"}
    assert "not newer" in report.results[0].reason
    assert digest(engine) == before
    rows = deliveries(engine, AMAZON)
    assert [(r["topic"], r["state"]) for r in rows] == [
        ("ORDER_CHANGE", "applied"),
        ("poll", "stale"),
    ]
    assert rows[1]["delivery_id"] == f"poll:{ORDER}:{LISTED_AT}"


async def test_a_notification_after_the_poll_of_the_same_version_changes_nothing(
    client: Any, engine: sa.Engine, sim: str, amazon: str
) -> None:
    amazon_holds(sim, mfn_us())
    assert outcomes(poll(engine)) == {ORDER: "repaired"}
    before = digest(engine)

    await notify(client, amazon)

    assert digest(engine) == before
    assert [r["state"] for r in deliveries(engine, AMAZON)] == ["applied", "stale"]


def test_a_poll_alone_creates_the_order_once_as_the_door_would(
    engine: sa.Engine, sim: str, amazon: str
) -> None:
    amazon_holds(sim, mfn_us())

    first = poll(engine)
    after_first = digest(engine)
    second = poll(engine)

    assert outcomes(first) == {ORDER: "repaired"} and outcomes(second) == {ORDER: "present"}
    assert digest(engine) == after_first
    order = order_row(engine, AMAZON, ORDER)
    assert first.results[0].order_id == str(order.id)
    assert order.status == "allocated" and reserved(engine, order.id) == 4  # 2 + 1 + 1
    assert events_of(engine, order.id)[:2] == ["order.accepted", "order.allocated"]
    (row,) = deliveries(engine, AMAZON)
    assert (row["delivery_id"], row["state"], row["order_id"]) == (
        f"poll:{ORDER}:{LISTED_AT}",
        "applied",
        order.id,
    )
    assert first.repaired_in_all == second.repaired_in_all == 1


def test_a_later_last_update_date_updates_the_order_and_a_cancellation_cancels(
    engine: sa.Engine, sim: str, amazon: str
) -> None:
    amazon_holds(sim, mfn_us())
    poll(engine)
    order = order_row(engine, AMAZON, ORDER)
    assert reserved(engine, order.id) == 4

    amazon_holds(sim, mfn_us(OrderStatus="Canceled", LastUpdateDate="2026-11-26T11:30:00Z"))
    report = poll(engine)

    assert outcomes(report) == {ORDER: "updated"}
    assert order_row(engine, AMAZON, ORDER).status == "cancelled"
    assert reserved(engine, order.id) == 0
    # order.cancelled, then the empty allocation the WMS cancels its fulfilment by.
    assert events_of(engine, order.id)[2:] == ["order.cancelled", "order.allocated"]
    assert [r["state"] for r in deliveries(engine, AMAZON)] == ["applied", "applied"]
    assert report.repaired_in_all == 2  # created, then updated


def test_an_fba_order_the_poll_lists_reserves_nothing(
    engine: sa.Engine, sim: str, amazon: str
) -> None:
    amazon_holds(sim, mfn_us(AmazonOrderId=FBA, FulfillmentChannel="AFN"))
    before = digest(engine)

    assert outcomes(poll(engine)) == {FBA: "repaired"}

    order = order_row(engine, AMAZON, FBA)
    assert reserved(engine, order.id) == 0
    assert "order.allocated" not in events_of(engine, order.id)
    stock_before = next(d for d in before if d[0] == "stock")
    assert next(d for d in digest(engine) if d[0] == "stock") == stock_before


def test_a_shopify_order_is_polled_by_its_own_id_not_a_canonical_field(
    engine: sa.Engine, sim: str, amazon: str
) -> None:
    with engine.begin() as conn:
        registry.add_channel(conn, SHOPIFY, "shopify", api_url=f"{sim}/channels/{SHOPIFY}")
    order = copy.deepcopy(doc("orders_create"))
    assert "external_id" not in order  # Shopify's order has its id, nothing canonical
    shop = {"orders": [json.loads(json.dumps(order, default=float))]}
    assert httpx.post(f"{sim}/_sim/channels/{SHOPIFY}/shopify", json=shop).status_code == 200

    first, second = poll(engine, SHOPIFY), poll(engine, SHOPIFY)

    external_id = str(order["id"])
    assert outcomes(first) == {external_id: "repaired"}
    assert outcomes(second) == {external_id: "present"}
    assert order_row(engine, SHOPIFY, external_id).status == "allocated"
    (row,) = deliveries(engine, SHOPIFY)
    assert row["delivery_id"].startswith(f"poll:{external_id}:")


def test_a_polled_order_refused_for_an_unmapped_sku_is_parked_then_applied_once_mapped(
    engine: sa.Engine, sim: str, amazon: str
) -> None:
    order = mfn_us()
    order["items"] = [
        {**item, "SellerSKU": "AMZ-STICKER"} if item["SellerSKU"] == "STICKER-PACK" else item
        for item in order["items"]
    ]
    amazon_holds(sim, order)

    refused = poll(engine)

    assert outcomes(refused) == {ORDER: "rejected"}
    assert "AMZ-STICKER" in refused.results[0].reason
    (row,) = deliveries(engine, AMAZON)
    assert row["state"] == "parked"  # an inbound dead letter, as a webhook's would be
    with engine.begin() as conn:
        map_sku(conn, AMAZON, "AMZ-STICKER", "STICKER-PACK", created_by="test")

    applied = poll(engine)  # the same version listed again: its parked row applied

    assert outcomes(applied) == {ORDER: "repaired"}
    assert [(r["id"], r["state"]) for r in deliveries(engine, AMAZON)] == [(row["id"], "applied")]
    assert reserved(engine, order_row(engine, AMAZON, ORDER).id) == 4
