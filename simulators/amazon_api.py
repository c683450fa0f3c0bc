"""A fake Amazon Selling Partner API per channel, at /channels/{name}: the Orders API v0
reads (getOrder, getOrderItems, getOrders, paged with NextToken), confirmShipment, and
the Listings Items API (getListingsItem, patchListingsItem).

Orders and listings are put there by tests and the demo (POST
/_sim/channels/{name}/amazon/orders and …/amazon/listings, see amazon_state.py). The
writes go through the simulators' POST pipeline (faults, Idempotency-Key, the call log)
and are recorded as documents of types "amazon.shipment_confirmation" and
"amazon.listings_patch". Reads answer as SP-API does: errors as {"errors": [{"code",
"message", "details"}]}; while the channels are down, 503 with Retry-After; at the
channels' throttle_rate, 429 with x-amzn-RateLimit-Limit and no Retry-After.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from aiohttp import web

from simulators import amazon_state
from simulators.endpoint import Handler, backend_post
from simulators.faults import roll
from simulators.keys import SIM
from simulators.paging import BadQuery, parse_time
from simulators.store import SystemStore

ORDERS = "/channels/{name}/orders/v0/orders"
LISTING = "/channels/{name}/listings/2021-08-01/items/{seller_id}/{sku}"
RATE_LIMITS = {"getOrders": "0.0167", "getOrder": "0.5", "getOrderItems": "0.5", "listing": "5"}
MAX_RESULTS = 100


def amazon_error(status: int, code: str, message: str, **headers: str) -> web.Response:
    body = {"errors": [{"code": code, "message": message, "details": ""}]}
    return web.json_response(body, status=status, headers=headers or None)


Read = Callable[[SystemStore, Mapping[str, str], Mapping[str, str]], dict[str, Any] | None]


def _read(operation: str, read: Read) -> Handler:
    """A read route: down, throttled, a bad query (400), not found (404), or its reply."""

    async def handle(request: web.Request) -> web.StreamResponse:
        sim = request.app[SIM]
        store = sim.systems["channels"]
        if store.faults.down_remaining() > 0:
            retry = {"Retry-After": store.faults.retry_after()}
            return amazon_error(503, "ServiceUnavailable", "the channel is down", **retry)
        if roll(sim.rng, store.faults.throttle_rate):
            limit = {"x-amzn-RateLimit-Limit": RATE_LIMITS[operation]}
            return amazon_error(429, "QuotaExceeded", "You exceeded your quota", **limit)
        try:
            reply = read(store, request.match_info, request.query)
        except BadQuery as error:
            return amazon_error(400, "InvalidInput", str(error))
        if reply is None:
            return amazon_error(404, "NotFound", f"{operation}: no such resource")
        return web.json_response(reply, headers={"x-amzn-RateLimit-Limit": RATE_LIMITS[operation]})

    return handle


def _token(state: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(state).encode()).decode()


def _untoken(text: str, keys: set[str]) -> dict[str, Any]:
    try:
        state = json.loads(base64.urlsafe_b64decode(text.encode()))
    except (ValueError, binascii.Error):
        state = None
    if not isinstance(state, dict) or set(state) != keys:
        raise BadQuery("NextToken was not issued by this API")
    return state


def get_order(
    store: SystemStore, params: Mapping[str, str], query: Mapping[str, str]
) -> dict[str, Any] | None:
    """GET …/orders/v0/orders/{order_id}: {"payload": the order}."""
    held = amazon_state.order(store, params["name"], params["order_id"])
    return None if held is None else {"payload": held["order"]}


def get_order_items(
    store: SystemStore, params: Mapping[str, str], query: Mapping[str, str]
) -> dict[str, Any] | None:
    """GET …/orders/v0/orders/{order_id}/orderItems[?NextToken=…]: a page of its items."""
    channel, order_id = params["name"], params["order_id"]
    held = amazon_state.order(store, channel, order_id)
    if held is None:
        return None
    start = 0
    if "NextToken" in query:
        state = _untoken(query["NextToken"], {"order", "offset"})
        if state["order"] != order_id or not isinstance(state["offset"], int):
            raise BadQuery("NextToken belongs to another order")
        start = state["offset"]
    size = amazon_state.items_page_size(store, channel)
    items = held["items"][start : start + size]
    payload: dict[str, Any] = {"OrderItems": items, "AmazonOrderId": order_id}
    if start + size < len(held["items"]):
        payload["NextToken"] = _token({"order": order_id, "offset": start + size})
    return {"payload": payload}


def _orders_query(query: Mapping[str, str]) -> tuple[set[str], dict[str, Any]]:
    markets = {m for m in query.get("MarketplaceIds", "").split(",") if m}
    if not markets:
        raise BadQuery("MarketplaceIds is required")
    if "NextToken" in query:
        return markets, _untoken(query["NextToken"], {"since", "after", "limit"})
    if "LastUpdatedAfter" not in query:
        raise BadQuery("LastUpdatedAfter is required (or a NextToken)")
    parse_time(query["LastUpdatedAfter"], "LastUpdatedAfter")
    limit = query.get("MaxResultsPerPage", str(MAX_RESULTS))
    if not limit.isdigit() or not 1 <= int(limit) <= MAX_RESULTS:
        raise BadQuery(f"MaxResultsPerPage must be 1 to {MAX_RESULTS}")
    return markets, {"since": query["LastUpdatedAfter"], "after": 0, "limit": int(limit)}


def get_orders(
    store: SystemStore, params: Mapping[str, str], query: Mapping[str, str]
) -> dict[str, Any]:
    """GET …/orders/v0/orders?MarketplaceIds=…&LastUpdatedAfter=ISO[&MaxResultsPerPage=N]
    (then ?MarketplaceIds=…&NextToken=…): the orders changed at or after the time, in the
    order they were put or changed here."""
    markets, state = _orders_query(query)
    since: datetime = parse_time(state["since"], "LastUpdatedAfter")
    eligible = [
        held
        for held in amazon_state.orders(store, params["name"])
        if held["seq"] > state["after"]
        and held["order"].get("MarketplaceId") in markets
        and parse_time(held["order"]["LastUpdateDate"], "LastUpdateDate") >= since
    ]
    page = eligible[: state["limit"]]
    payload: dict[str, Any] = {"Orders": [held["order"] for held in page]}
    if len(eligible) > len(page):
        payload["NextToken"] = _token({**state, "after": page[-1]["seq"]})
    return {"payload": payload}


def get_listing(
    store: SystemStore, params: Mapping[str, str], query: Mapping[str, str]
) -> dict[str, Any] | None:
    """GET …/listings/2021-08-01/items/{seller_id}/{sku}?marketplaceIds=…: the listing
    with its fulfillmentAvailability."""
    if not query.get("marketplaceIds"):
        raise BadQuery("marketplaceIds is required")
    listing = amazon_state.listing(store, params["name"], params["seller_id"], params["sku"])
    if listing is None:
        return None
    return {"sku": listing["sku"], "fulfillmentAvailability": listing["fulfillmentAvailability"]}


def _needs_marketplace(handler: Handler) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        if not request.query.get("marketplaceIds"):
            return amazon_error(400, "InvalidInput", "marketplaceIds is required")
        return await handler(request)

    return handle


def add_routes(app: web.Application) -> None:
    """The fake SP-API's routes, and its /_sim routes to put orders and listings in."""
    router = app.router
    router.add_get(ORDERS, _read("getOrders", get_orders))
    router.add_get(ORDERS + "/{order_id}", _read("getOrder", get_order))
    router.add_get(ORDERS + "/{order_id}/orderItems", _read("getOrderItems", get_order_items))
    confirm = backend_post(
        "channels", "amazon.shipment_confirmation", amazon_state.confirm_shipment
    )
    router.add_post(ORDERS + "/{order_id}/shipment/confirmation", confirm)
    router.add_get(LISTING, _read("listing", get_listing))
    patch = backend_post("channels", "amazon.listings_patch", amazon_state.patch_listing)
    router.add_patch(LISTING, _needs_marketplace(patch))
    router.add_post("/_sim/channels/{name}/amazon/orders", amazon_state.put_orders)
    router.add_post("/_sim/channels/{name}/amazon/listings", amazon_state.put_listings)
