"""The Shopify client's own rules, over a mock transport: its access token, what it sends
nothing for, and a Link paging that never ends."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest

from adapters.channels import shopify
from adapters.channels.shopify_client import ShopifyClient
from adapters.systems.errors import PermanentError
from domain.events import OrderAccepted, RefundRecorded

ORDERS = "/admin/api/2024-10/orders.json"


def client(handler: httpx.MockTransport, **credentials: str) -> ShopifyClient:
    return ShopifyClient(
        "https://acme.myshopify.com",
        channel="acme",
        credentials=credentials or None,
        transport=handler,
    )


def test_the_access_token_goes_in_shopifys_header_and_no_token_sends_none() -> None:
    seen: list[httpx.Headers] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers)
        return httpx.Response(200, json={"orders": []})

    transport = httpx.MockTransport(answer)
    list(client(transport, access_token="shpat_abc").orders_since(datetime.now(UTC)))
    list(client(transport).orders_since(datetime.now(UTC)))

    assert seen[0]["X-Shopify-Access-Token"] == "shpat_abc"
    assert "X-Shopify-Access-Token" not in seen[1]


def test_the_list_asks_for_every_status_since_the_time_then_follows_page_info_alone() -> None:
    asked: list[httpx.URL] = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(request.url)
        if "page_info" in request.url.params:
            return httpx.Response(200, json={"orders": []})
        link = f'<https://elsewhere.example{ORDERS}?page_info=p2&limit=2>; rel="next"'
        return httpx.Response(200, json={"orders": []}, headers={"Link": link})

    list(
        client(httpx.MockTransport(answer)).orders_since(
            datetime(2026, 12, 1, tzinfo=UTC), page_size=2
        )
    )

    first, second = asked
    assert dict(first.params) == {
        "status": "any",
        "updated_at_min": "2026-12-01T00:00:00+00:00",
        "limit": "2",
    }
    # The next page at our own shop (never the Link's host, with our token), page_info alone.
    assert (second.host, dict(second.params)) == (
        "acme.myshopify.com",
        {"limit": "2", "page_info": "p2"},
    )


def test_a_list_whose_pages_repeat_is_refused() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        link = f'<https://acme.myshopify.com{ORDERS}?page_info=same>; rel="next"'
        return httpx.Response(200, json={"orders": []}, headers={"Link": link})

    with pytest.raises(PermanentError, match="repeats a page"):
        list(client(httpx.MockTransport(answer)).orders_since(datetime.now(UTC)))


def test_a_listed_order_keeps_its_64_bit_id_and_exact_decimals() -> None:
    body = (
        b'{"orders": [{"id": 9007199254740993, "updated_at": "2026-12-01T10:00:00-05:00",'
        b' "rate": 0.1}]}'
    )

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"Content-Type": "application/json"})

    (listed,) = client(httpx.MockTransport(answer)).orders_since(datetime.now(UTC))

    assert listed.document["id"] == 9007199254740993
    assert str(listed.document["rate"]) == "0.1" and not isinstance(listed.document["rate"], float)


def test_events_shopify_has_no_call_for_send_nothing() -> None:
    calls: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(500)

    shop = client(httpx.MockTransport(answer))
    refund = RefundRecorded.model_construct()
    accepted = OrderAccepted.model_construct()

    table = shopify.KIND.handlers
    refunded = table["refund.recorded"].send(shop, refund, idempotency_key="k")
    acknowledged = table["order.accepted"].send(shop, accepted, idempotency_key="k")
    assert str(refunded).startswith("not sent: a refund from Shopify it has")
    assert acknowledged == "not sent: Shopify has no acknowledgement of an order it sent"
    assert calls == []


def test_a_malformed_fulfillment_orders_reply_is_a_permanent_error() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("fulfillment_orders.json"):
            return httpx.Response(200, json={"fulfillment_orders": [{"id": "x"}]})
        return httpx.Response(200, json={"order": {"id": 1, "line_items": []}})

    shop = client(httpx.MockTransport(answer))

    with pytest.raises(PermanentError, match="malformed fulfillment orders reply"):
        shop._fulfillable(1, {5: 1})
    assert json.dumps(shop.line_positions(1)) == "{}"
