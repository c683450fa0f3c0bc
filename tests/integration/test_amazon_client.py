"""The Amazon client against the simulator's SP-API over real HTTP: every page followed,
the order behind a notification read, confirmShipment and the listings patch in
Amazon's shapes (a retry under the same Idempotency-Key posts once), getOrders listed
page by page, and throttling and outages as blips."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from aiohttp import web

from adapters.channels.amazon import KIND, interpret
from adapters.channels.amazon_client import FBA_ONLY, NOT_LISTED, AmazonClient
from adapters.channels.amazon_normalize import order_commands
from adapters.channels.webhook import InboundRequest, InvalidDelivery
from adapters.systems.errors import PermanentError, TransientError
from adapters.systems.handlers import dispatch
from domain.channel_commands import ChannelOrder
from outbox.envelope import Envelope
from simulators.app import init_sim_app
from simulators.server import ServerThread
from tests.unit.amazon_fixtures import document, items_of, load, order_payload, raw

pytestmark = pytest.mark.integration

CHANNEL = "amazon-us"
US, SELLER = "ATVPDKIKX0DER", "A3TH9S8BH6GOGM"
CREDENTIALS = {"marketplace_id": US, "seller_id": SELLER, "access_token": "Atza|IwEBIsim"}
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)
SHIPPED_AT = datetime(2026, 11, 27, 9, 15, tzinfo=UTC)


@pytest.fixture
def sim() -> Iterator[str]:
    with ServerThread(init_sim_app(seed=1)) as server:
        yield server.url


@pytest.fixture
def client(sim: str) -> Iterator[AmazonClient]:
    with KIND.client(f"{sim}/channels/{CHANNEL}", channel=CHANNEL, credentials=CREDENTIALS) as c:
        assert isinstance(c, AmazonClient)
        yield c


def put(sim: str, *names: str, items_page_size: int | None = None) -> None:
    orders = [{"order": order_payload(n), "items": items_of(n)} for n in names]
    body: dict[str, Any] = {"orders": orders}
    if items_page_size is not None:
        body["items_page_size"] = items_page_size
    stored = httpx.post(f"{sim}/_sim/channels/{CHANNEL}/amazon/orders", json=body)
    assert stored.status_code == 200, stored.text


def documents(sim: str, doc_type: str) -> dict[str, Any]:
    reply = httpx.get(f"{sim}/_sim/channels/documents", params={"type": doc_type}).json()
    assert isinstance(reply, dict)
    return reply


def held_order(sim: str, order_id: str) -> dict[str, Any]:
    state = httpx.get(f"{sim}/_sim/channels/state").json()
    return next(h for h in state["amazon_orders"] if h["order"]["AmazonOrderId"] == order_id)


def envelope(event_type: str, payload: dict[str, Any], aggregate: str) -> Envelope:
    return Envelope(
        event_id=uuid.uuid4(),
        event_type=event_type,
        event_version=1,
        aggregate_type="order" if event_type != "inventory.changed" else "sku",
        aggregate_id=aggregate,
        aggregate_version=3,
        destination=f"channel:{CHANNEL}",
        sequence=3,
        generation=0,
        occurred_at=SHIPPED_AT,
        correlation_id=None,
        causation_id=None,
        channel=CHANNEL,
        payload=payload,
    )


def test_every_page_of_an_orders_items_is_followed(sim: str, client: AmazonClient) -> None:
    put(sim, "many_lines", items_page_size=7)
    first = httpx.get(f"{sim}/channels/{CHANNEL}/orders/v0/orders/114-6034127-0120120/orderItems")
    assert len(first.json()["payload"]["OrderItems"]) == 7 and first.json()["payload"]["NextToken"]
    assert client.order_items("114-6034127-0120120") == items_of("many_lines")  # 18 pages


def test_a_notification_is_the_order_amazon_has_now(sim: str, client: AmazonClient) -> None:
    put(sim, "mfn_us", items_page_size=2)
    delivery = InboundRequest(raw("eventbridge_order_change_status.json"), {})
    assert KIND.webhook is not None
    commands = interpret(KIND.webhook.receipt(delivery), delivery, client)
    assert commands == order_commands(document("mfn_us"))


def test_an_order_amazon_does_not_have_parks_the_notification(client: AmazonClient) -> None:
    with pytest.raises(PermanentError) as raised:
        client.get_order("113-0000000-0000000")
    assert raised.value.status == 404
    delivery = InboundRequest(raw("eventbridge_order_change_status.json"), {})
    assert KIND.webhook is not None
    with pytest.raises(InvalidDelivery, match="NotFound"):
        interpret(KIND.webhook.receipt(delivery), delivery, client)


def shipment_payload(*lines: tuple[int, str, int]) -> dict[str, Any]:
    return {
        "order_id": "0b8f5c1e-7d1a-4c2e-9a77-5f1e8d2c3b4a",
        "channel": CHANNEL,
        "external_id": "113-4721908-3340257",
        "status": "partially_shipped",
        "shipment_id": "5d0e6f8a-2b3c-4d5e-8f90-a1b2c3d4e5f6",
        "location": "WH-EAST",
        "carrier": "UPS",
        "tracking_number": "1Z999AA10123456784",
        "lines": [{"line_no": n, "sku": sku, "quantity": q} for n, sku, q in lines],
        "currency": "USD",
        "shipped_value": "38.75",
    }


def test_a_shipment_is_confirmed_in_amazons_shape_and_a_retry_posts_once(
    sim: str, client: AmazonClient
) -> None:
    put(sim, "mfn_us")
    message = envelope(
        "shipment.dispatched",
        shipment_payload((1, "TEE-M-BLK", 2), (3, "STICKER-PACK", 1)),
        "0b8f5c1e-7d1a-4c2e-9a77-5f1e8d2c3b4a",
    )
    assert dispatch(KIND.handlers, client, message) == "shipped"
    assert dispatch(KIND.handlers, client, message) == "shipped"  # a redelivery

    sent = documents(sim, "amazon.shipment_confirmation")
    assert (sent["count"], sent["duplicates"]) == (1, 1)
    [confirmation] = sent["documents"]
    assert confirmation["idempotency_key"] == message.idempotency_key()
    body = confirmation["body"]
    assert body["marketplaceId"] == US
    package = body["packageDetail"]
    assert package["packageReferenceId"].isdigit()
    assert (package["carrierCode"], package["trackingNumber"]) == ("UPS", "1Z999AA10123456784")
    assert package["shipDate"] == "2026-11-27T09:15:00Z"  # the event's time, on every retry
    assert package["orderItems"] == [
        {"orderItemId": "48213300791122", "quantity": 2},
        {"orderItemId": "48213300791146", "quantity": 1},
    ]
    held = held_order(sim, "113-4721908-3340257")
    assert [i["QuantityShipped"] for i in held["items"]] == [2, 0, 1]  # once, not twice
    assert held["order"]["OrderStatus"] == "PartiallyShipped"


def test_amazon_refusing_a_confirmation_is_a_permanent_error(
    sim: str, client: AmazonClient
) -> None:
    put(sim, "mfn_us")
    too_many = envelope(
        "shipment.dispatched", shipment_payload((1, "TEE-M-BLK", 3)), "0b8f5c1e-7d1a"
    )
    with pytest.raises(PermanentError, match="only 2 left to ship"):
        dispatch(KIND.handlers, client, too_many)
    assert documents(sim, "amazon.shipment_confirmation")["count"] == 0


def put_listings(sim: str, *listings: tuple[str, str, int]) -> None:
    body = {
        "seller_id": SELLER,
        "listings": [
            {
                "sku": sku,
                "fulfillmentAvailability": [{"fulfillmentChannelCode": code, "quantity": q}],
            }
            for sku, code, q in listings
        ],
    }
    assert httpx.post(f"{sim}/_sim/channels/{CHANNEL}/amazon/listings", json=body).is_success


def stock(sku: str, sellable: int) -> Envelope:
    payload = {"sku": sku, "atp": 40, "locations": [], "sellable": {CHANNEL: sellable, "web": 40}}
    return envelope("inventory.changed", payload, sku)


def test_what_a_sku_may_sell_is_patched_on_its_listing_once(sim: str, client: AmazonClient) -> None:
    put_listings(sim, ("TEE-M-BLK", "DEFAULT", 3))
    message = stock("TEE-M-BLK", 12)
    assert dispatch(KIND.handlers, client, message) == 12
    assert dispatch(KIND.handlers, client, message) == 12

    sent = documents(sim, "amazon.listings_patch")
    assert (sent["count"], sent["duplicates"]) == (1, 1)
    assert sent["documents"][0]["body"] == {
        "productType": "PRODUCT",
        "patches": [
            {
                "op": "replace",
                "path": "/attributes/fulfillment_availability",
                "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 12}],
            }
        ],
    }
    listing = httpx.get(
        f"{sim}/channels/{CHANNEL}/listings/2021-08-01/items/{SELLER}/TEE-M-BLK",
        params={"marketplaceIds": US},
    ).json()
    assert listing["fulfillmentAvailability"] == [
        {"fulfillmentChannelCode": "DEFAULT", "quantity": 12}
    ]


def test_fba_only_and_unlisted_skus_are_not_patched(sim: str, client: AmazonClient) -> None:
    put_listings(sim, ("KAFFEE-BOHNEN-1KG", "AMAZON_NA", 30))
    assert dispatch(KIND.handlers, client, stock("KAFFEE-BOHNEN-1KG", 5)) == FBA_ONLY
    assert dispatch(KIND.handlers, client, stock("NEVER-LISTED", 5)) == NOT_LISTED
    assert documents(sim, "amazon.listings_patch")["count"] == 0


def test_the_marketplaces_changed_orders_are_listed_page_by_page(
    sim: str, client: AmazonClient
) -> None:
    put(sim, "mfn_us", "pending", "afn_de", "buyer_cancel", "canceled", items_page_size=1)
    client.page_size = 1
    assert KIND.list_orders is not None
    listed = list(KIND.list_orders(client, LONG_AGO))
    # The pending order waits for its prices; the German one is another marketplace's; the
    # cancelled one is listed too (the poll applies its cancellation).
    assert [o.external_id for o in listed] == [
        "113-4721908-3340257",
        "112-9988776-5544332",
        "113-5550231-1187702",
    ]
    assert [o.document for o in listed] == [
        document("mfn_us"),
        document("buyer_cancel"),
        document("canceled"),
    ]
    assert [o.updated_at for o in listed] == [
        datetime(2026, 11, 26, 10, 2, 47, tzinfo=UTC),
        datetime(2026, 11, 26, 12, 9, 3, tzinfo=UTC),
        datetime(2026, 11, 26, 7, 58, 44, tzinfo=UTC),
    ]
    later = list(client.orders_since(datetime(2026, 11, 26, 11, 0, tzinfo=UTC)))
    assert [o.document["external_id"] for o in later] == ["112-9988776-5544332"]
    assert KIND.normalize(listed[0].document).external_id == "113-4721908-3340257"


def test_fba_and_cancelled_orders_are_listed_with_what_the_poll_applies_of_them(
    sim: str, client: AmazonClient
) -> None:
    fba = {**order_payload("mfn_us"), "AmazonOrderId": "113-0000001-0000001"}
    fba["FulfillmentChannel"] = "AFN"
    body = {"orders": [{"order": fba, "items": items_of("mfn_us")}]}
    assert httpx.post(f"{sim}/_sim/channels/{CHANNEL}/amazon/orders", json=body).is_success
    put(sim, "canceled")
    every = list(client.orders_since(LONG_AGO))
    assert [o.external_id for o in every] == ["113-0000001-0000001", "113-5550231-1187702"]
    fba_order, cancel = (KIND.polled(o)[0] for o in every)
    assert isinstance(fba_order, ChannelOrder) and fba_order.reserve_stock is False
    assert cancel.kind == "cancel"


def test_a_throttled_read_is_a_blip_with_amazons_rate(sim: str, client: AmazonClient) -> None:
    put(sim, "mfn_us")
    assert httpx.post(f"{sim}/_sim/channels/faults", json={"throttle_rate": 1.0}).is_success
    with pytest.raises(TransientError) as raised:
        client.get_order("113-4721908-3340257")
    assert (raised.value.status, raised.value.retry_after) == (429, 2.0)  # getOrder: 0.5/s
    assert httpx.post(f"{sim}/_sim/channels/faults", json={"throttle_rate": 0.0}).is_success
    assert client.get_order("113-4721908-3340257")["AmazonOrderId"] == "113-4721908-3340257"


def test_an_outage_is_a_blip_that_says_when_to_come_back(sim: str, client: AmazonClient) -> None:
    assert httpx.post(f"{sim}/_sim/channels/faults", json={"down_for_s": 30}).is_success
    with pytest.raises(TransientError) as raised:
        client.order_items("113-4721908-3340257")
    assert raised.value.status == 503 and raised.value.retry_after is not None


def test_the_simulator_refuses_a_get_orders_without_its_marketplace(sim: str) -> None:
    reply = httpx.get(
        f"{sim}/channels/{CHANNEL}/orders/v0/orders",
        params={"LastUpdatedAfter": "2026-01-01T00:00:00Z"},
    )
    assert reply.status_code == 400
    assert reply.json()["errors"][0]["code"] == "InvalidInput"
    bad = httpx.post(
        f"{sim}/_sim/channels/{CHANNEL}/amazon/orders", json={"orders": [{"order": {}}]}
    )
    assert bad.status_code == 400


QUERIES = web.AppKey("queries", list)


def amazons_own_pages() -> web.Application:
    """getOrders and getOrderItems answering with the fixtures, Amazon's own replies,
    recording each query."""
    pages = [load("get_orders_page1.json"), load("get_orders_page2.json")]
    items = {
        "113-4721908-3340257": load("get_order_items_mfn_us.json"),
        "112-9988776-5544332": load("get_order_items_buyer_cancel.json"),
    }
    app = web.Application()
    app[QUERIES] = []

    async def orders(request: web.Request) -> web.Response:
        request.app[QUERIES].append(dict(request.query))
        return web.json_response(pages[1 if "NextToken" in request.query else 0])

    async def order_items(request: web.Request) -> web.Response:
        return web.json_response(items[request.match_info["order_id"]])

    app.router.add_get("/orders/v0/orders", orders)
    app.router.add_get("/orders/v0/orders/{order_id}/orderItems", order_items)
    return app


def test_get_orders_pages_as_amazon_documents_them() -> None:
    app = amazons_own_pages()
    with ServerThread(app) as server, AmazonClient(server.url, credentials=CREDENTIALS) as client:
        listed = list(client.orders_since(datetime(2026, 11, 26, 9, 0, tzinfo=UTC)))
    assert [o.document["external_id"] for o in listed] == [
        "113-4721908-3340257",  # the pending order of page 1 is left for later
        "112-9988776-5544332",
    ]
    assert app[QUERIES] == [
        {
            "MarketplaceIds": US,
            "LastUpdatedAfter": "2026-11-26T09:00:00Z",
            "MaxResultsPerPage": "100",
        },
        # With a NextToken, Amazon takes the marketplace and the token only.
        {"MarketplaceIds": US, "NextToken": "2YgYW55IGNhcm5hbCBwbGVhc3VyZS4="},
    ]


def test_the_first_order_read_from_amazon_is_a_channel_order(
    sim: str, client: AmazonClient
) -> None:
    put(sim, "afn_de")
    [command] = order_commands(client.order_document("302-5518827-9910754"))
    assert isinstance(command, ChannelOrder) and command.reserve_stock is False
