"""What goes back to Amazon: confirmShipment's package with Amazon's order item ids, the
listings patch, and how the client reads SP-API's throttling."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from adapters.channels.amazon_client import AmazonClient
from adapters.channels.amazon_documents import (
    carrier_fields,
    confirmation_document,
    fulfilled_by_amazon_only,
    listings_patch,
    package_reference,
    shipped_items,
)
from adapters.channels.amazon_spapi import throttle_wait
from adapters.systems.errors import PermanentError, TransientError
from domain.events import InventoryChanged, ShipmentDispatched
from tests.unit.amazon_fixtures import items_of

SYSTEM = "channel:amazon-us"


def shipment(*lines: tuple[int, str, int], carrier: str = "UPS") -> ShipmentDispatched:
    return ShipmentDispatched(
        order_id="0b8f5c1e-7d1a-4c2e-9a77-5f1e8d2c3b4a",
        channel="amazon-us",
        external_id="113-4721908-3340257",
        status="partially_shipped",
        shipment_id="5d0e6f8a-2b3c-4d5e-8f90-a1b2c3d4e5f6",
        location="WH-EAST",
        carrier=carrier,
        tracking_number="1Z999AA10123456784",
        lines=[{"line_no": n, "sku": sku, "quantity": q} for n, sku, q in lines],
        currency="USD",
        shipped_value="41.24",
    )


def test_a_shipped_line_is_the_item_of_its_seller_sku_else_of_its_line_number() -> None:
    items = items_of("mfn_us")
    shipped = shipment((1, "TEE-M-BLK", 2), (3, "OUR-STICKERS", 1))  # ours ≠ Amazon's SKU
    assert shipped_items(SYSTEM, shipped, items) == [
        {"orderItemId": "48213300791122", "quantity": 2},
        {"orderItemId": "48213300791146", "quantity": 1},
    ]


def test_two_lines_of_one_item_ship_as_one_item_with_their_sum() -> None:
    shipped = shipment((1, "TEE-M-BLK", 1), (1, "TEE-M-BLK", 1))
    assert shipped_items(SYSTEM, shipped, items_of("mfn_us")) == [
        {"orderItemId": "48213300791122", "quantity": 2}
    ]


def test_a_line_that_is_no_item_of_the_order_is_a_permanent_error() -> None:
    with pytest.raises(PermanentError, match="shipment line 9"):
        shipped_items(SYSTEM, shipment((9, "NOT-THERE", 1)), items_of("mfn_us"))


def test_items_amazon_answered_without_their_ids_are_a_broken_contract() -> None:
    with pytest.raises(PermanentError, match="malformed getOrderItems reply"):
        shipped_items(SYSTEM, shipment((1, "TEE-M-BLK", 1)), [{"SellerSKU": "TEE-M-BLK"}])


def test_the_confirmation_is_one_package_in_amazons_shape() -> None:
    shipped = shipment((1, "TEE-M-BLK", 2), carrier="Correos Express Norte")
    items = [{"orderItemId": "48213300791122", "quantity": 2}]
    at = datetime(2026, 11, 27, 10, 30, 15, 123456, tzinfo=timezone(timedelta(hours=1)))
    document = confirmation_document(shipped, items, marketplace_id="ATVPDKIKX0DER", shipped_at=at)
    assert document == {
        "packageDetail": {
            "packageReferenceId": package_reference(shipped.shipment_id),
            "carrierCode": "Other",
            "carrierName": "Correos Express Norte",
            "trackingNumber": "1Z999AA10123456784",
            "shipDate": "2026-11-27T09:30:15Z",
            "orderItems": items,
        },
        "marketplaceId": "ATVPDKIKX0DER",
    }


def test_a_package_reference_is_a_positive_number_the_same_for_the_same_shipment() -> None:
    first = package_reference("5d0e6f8a-2b3c-4d5e-8f90-a1b2c3d4e5f6")
    assert first.isdigit() and int(first) > 0
    assert first == package_reference("5d0e6f8a-2b3c-4d5e-8f90-a1b2c3d4e5f6")
    assert first != package_reference("another shipment")


@pytest.mark.parametrize(
    ("ours", "amazons"),
    [("UPS", {"carrierCode": "UPS"}), ("fedex", {"carrierCode": "FedEx"})],
)
def test_known_carriers_get_amazons_code(ours: str, amazons: dict[str, str]) -> None:
    assert carrier_fields(ours) == amazons


def test_the_listings_patch_sets_the_merchant_fulfilled_quantity() -> None:
    assert listings_patch(7) == {
        "productType": "PRODUCT",
        "patches": [
            {
                "op": "replace",
                "path": "/attributes/fulfillment_availability",
                "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 7}],
            }
        ],
    }


@pytest.mark.parametrize(
    ("offered", "fba_only"),
    [
        ([{"fulfillmentChannelCode": "AMAZON_NA", "quantity": 4}], True),
        ([{"fulfillmentChannelCode": "AMAZON_EU"}, {"fulfillmentChannelCode": "DEFAULT"}], False),
        ([{"fulfillmentChannelCode": "DEFAULT", "quantity": 0}], False),
        ([], False),
        (None, False),
        ("AMAZON_NA", False),
    ],
)
def test_only_a_listing_offered_by_amazon_alone_is_fba_only(offered: Any, fba_only: bool) -> None:
    assert fulfilled_by_amazon_only({"sku": "A", "fulfillmentAvailability": offered}) is fba_only


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"x-amzn-RateLimit-Limit": "0.5"}, 2.0),
        ({"x-amzn-RateLimit-Limit": "0.0167"}, 1 / 0.0167),
        ({"Retry-After": "3", "x-amzn-RateLimit-Limit": "0.5"}, 3.0),
        ({"x-amzn-RateLimit-Limit": "0"}, None),
        ({"x-amzn-RateLimit-Limit": "nan"}, None),
        ({"x-amzn-RateLimit-Limit": "fast"}, None),
        ({}, None),
    ],
)
def test_a_throttled_call_waits_one_request_at_the_rate_amazon_names(
    headers: dict[str, str], wait: float | None
) -> None:
    assert throttle_wait(httpx.Headers(headers)) == (
        pytest.approx(wait) if wait is not None else None
    )


def answering(status: int, body: bytes, headers: dict[str, str] | None = None) -> AmazonClient:
    def reply(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body, headers=headers)

    return AmazonClient(
        "http://amazon.test/channels/amazon-us",
        channel="amazon-us",
        credentials={"marketplace_id": "ATVPDKIKX0DER", "access_token": "Atza|token"},
        transport=httpx.MockTransport(reply),
    )


def test_a_429_is_a_blip_with_the_wait_the_rate_limit_says() -> None:
    quota = b'{"errors": [{"code": "QuotaExceeded", "message": "You exceeded your quota"}]}'
    client = answering(429, quota, {"x-amzn-RateLimit-Limit": "0.5"})
    with pytest.raises(TransientError) as raised:
        client.get_order("113-4721908-3340257")
    assert raised.value.status == 429
    assert raised.value.retry_after == pytest.approx(2.0)
    assert "QuotaExceeded: You exceeded your quota" in str(raised.value)


def test_amazons_refusal_is_permanent_with_its_code_and_message() -> None:
    denied = b'{"errors": [{"code": "Unauthorized", "message": "Access is denied."}]}'
    with pytest.raises(PermanentError, match="Unauthorized: Access") as raised:
        answering(403, denied).get_order("113-4721908-3340257")
    assert raised.value.status == 403


def test_every_call_carries_the_access_token() -> None:
    seen: list[httpx.Request] = []

    def reply(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"payload": {"AmazonOrderId": "x"}})

    token = {"access_token": "Atza|token"}
    client = AmazonClient(
        "http://amazon.test", credentials=token, transport=httpx.MockTransport(reply)
    )
    client.get_order("113-4721908-3340257")
    assert seen[0].headers["x-amz-access-token"] == "Atza|token"
    assert seen[0].url.path == "/orders/v0/orders/113-4721908-3340257"


def test_a_call_that_needs_a_credential_the_channel_lacks_names_it() -> None:
    client = AmazonClient(
        "http://amazon.test",
        channel="amazon-us",
        transport=httpx.MockTransport(lambda request: httpx.Response(500)),
    )
    with pytest.raises(PermanentError, match="no marketplace_id credential"):
        list(client.orders_since(datetime(2026, 1, 1, tzinfo=UTC)))


def test_a_page_that_repeats_its_next_token_is_a_broken_contract() -> None:
    page = b'{"payload": {"OrderItems": [], "NextToken": "again"}}'
    with pytest.raises(PermanentError, match="repeat a NextToken"):
        answering(200, page).order_items("113-4721908-3340257")


def test_every_call_made_for_a_delivery_carries_its_idempotency_key() -> None:
    seen: list[httpx.Request] = []

    def reply(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/orderItems"):
            return httpx.Response(200, json={"payload": {"OrderItems": items_of("mfn_us")}})
        if request.method == "GET":  # getListingsItem
            offered = [{"fulfillmentChannelCode": "DEFAULT", "quantity": 1}]
            listing = {"sku": "TEE-M-BLK", "fulfillmentAvailability": offered}
            return httpx.Response(200, json=listing)
        return httpx.Response(204 if request.method == "POST" else 200)

    credentials = {"marketplace_id": "ATVPDKIKX0DER", "seller_id": "A3TH9S8BH6GOGM"}
    transport = httpx.MockTransport(reply)
    client = AmazonClient("http://amazon.test", credentials=credentials, transport=transport)
    client.shipped(shipment((1, "TEE-M-BLK", 2)), idempotency_key="key-1")
    change = InventoryChanged(sku="TEE-M-BLK", atp=4, locations=[])
    assert client.update_stock(change, idempotency_key="key-2") == 4
    assert [(r.method, r.headers.get("Idempotency-Key")) for r in seen] == [
        ("GET", "key-1"),
        ("POST", "key-1"),
        ("GET", "key-2"),
        ("PATCH", "key-2"),
    ]
    assert seen[3].url.params["marketplaceIds"] == "ATVPDKIKX0DER"
    assert seen[3].url.path == "/listings/2021-08-01/items/A3TH9S8BH6GOGM/TEE-M-BLK"
