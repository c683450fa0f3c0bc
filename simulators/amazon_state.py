"""What a fake Amazon channel holds (in the channels store's records) and how its writes
change it.

- "amazon_orders", by "<channel>/<AmazonOrderId>": {"order": getOrder's payload,
  "items": every OrderItem, "seq": its place in getOrders' list, "packages": [...]}.
  A shipment confirmation ships the items it names (QuantityShipped), moves the order to
  PartiallyShipped or Shipped, sets LastUpdateDate and moves it to the end of the list,
  as a changed order.
- "amazon_listings", by "<channel>/<seller id>/<SKU>": {"sku", "fulfillmentAvailability":
  [{"fulfillmentChannelCode": "DEFAULT" | "AMAZON_NA" | …, "quantity"}]}; a listings
  patch sets the DEFAULT (merchant-fulfilled) quantity.
- "amazon_paging", by channel: {"items_page_size": N}, getOrderItems' page size.

POST /_sim/channels/{name}/amazon/orders {"orders": [{"order": {…}, "items": [{…}]}],
"items_page_size": N (optional)} and POST /_sim/channels/{name}/amazon/listings
{"seller_id": "…", "listings": [{"sku", "fulfillmentAvailability": [...]}]} put them in
(an order or listing put again replaces the one held).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from simulators.endpoint import Call, Rejected, problem, validated
from simulators.keys import SIM
from simulators.paging import iso
from simulators.store import SystemStore

ORDERS, LISTINGS, PAGING = "amazon_orders", "amazon_listings", "amazon_paging"
DEFAULT_ITEMS_PAGE = 100
MAX_PUT = 1000


def order(store: SystemStore, channel: str, order_id: str) -> dict[str, Any] | None:
    return store.collection(ORDERS).get(f"{channel}/{order_id}")


def orders(store: SystemStore, channel: str) -> list[dict[str, Any]]:
    """The channel's orders in getOrders' order (put or changed last, last)."""
    mine = (h for h in store.collection(ORDERS).values() if h["channel"] == channel)
    return sorted(mine, key=lambda h: int(h["seq"]))


def items_page_size(store: SystemStore, channel: str) -> int:
    settings = store.collection(PAGING).get(channel, {})
    return int(settings.get("items_page_size", DEFAULT_ITEMS_PAGE))


def listing(store: SystemStore, channel: str, seller: str, sku: str) -> dict[str, Any] | None:
    return store.collection(LISTINGS).get(f"{channel}/{seller}/{sku}")


def _now() -> str:
    return iso(datetime.now(UTC).replace(microsecond=0))


class _Doc(BaseModel):
    model_config = ConfigDict(extra="allow")


class _HeldItem(_Doc):
    OrderItemId: str = Field(min_length=1)
    SellerSKU: str = Field(min_length=1)
    QuantityOrdered: int = Field(ge=0)


class _HeldOrder(_Doc):
    AmazonOrderId: str = Field(min_length=1)
    MarketplaceId: str = Field(min_length=1)
    FulfillmentChannel: Literal["AFN", "MFN"]


class _Put(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order: _HeldOrder
    items: list[_HeldItem] = []


class _PutOrders(BaseModel):
    model_config = ConfigDict(extra="forbid")
    orders: list[_Put] = Field(min_length=1, max_length=MAX_PUT)
    items_page_size: int | None = Field(default=None, ge=1, le=1000)


class _Availability(_Doc):
    fulfillmentChannelCode: str = Field(min_length=1)
    quantity: int = Field(ge=0)


class _Listing(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: str = Field(min_length=1)
    fulfillmentAvailability: list[_Availability] = []


class _PutListings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seller_id: str = Field(min_length=1)
    listings: list[_Listing] = Field(min_length=1, max_length=MAX_PUT)


async def _put(request: web.Request, model: type[BaseModel]) -> tuple[Any, SystemStore, str]:
    try:
        body = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError) as error:
        raise web.HTTPBadRequest(text=f"malformed JSON: {error}") from None
    try:
        put = validated(model, body if isinstance(body, dict) else {})
    except Rejected as error:
        raise web.HTTPBadRequest(text=error.reason) from None
    return put, request.app[SIM].systems["channels"], request.match_info["name"]


async def put_orders(request: web.Request) -> web.Response:
    """POST /_sim/channels/{name}/amazon/orders: orders (with their items) the channel
    holds; a LastUpdateDate left out is now."""
    try:
        put, store, channel = await _put(request, _PutOrders)
    except web.HTTPBadRequest as error:
        return problem(400, "Bad Request", error.text or "bad request")
    held = store.collection(ORDERS)
    for one in put.orders:
        document = one.order.model_dump(mode="json")
        document.setdefault("LastUpdateDate", _now())
        held[f"{channel}/{one.order.AmazonOrderId}"] = {
            "channel": channel,
            "order": document,
            "items": [item.model_dump(mode="json") for item in one.items],
            "seq": store.next_seq(ORDERS),
            "packages": [],
        }
    if put.items_page_size is not None:
        store.collection(PAGING)[channel] = {"items_page_size": put.items_page_size}
    return web.json_response({"channel": channel, "stored": len(put.orders)})


async def put_listings(request: web.Request) -> web.Response:
    """POST /_sim/channels/{name}/amazon/listings: the seller's listings on the channel."""
    try:
        put, store, channel = await _put(request, _PutListings)
    except web.HTTPBadRequest as error:
        return problem(400, "Bad Request", error.text or "bad request")
    held = store.collection(LISTINGS)
    for one in put.listings:
        held[f"{channel}/{put.seller_id}/{one.sku}"] = one.model_dump(mode="json")
    return web.json_response({"channel": channel, "stored": len(put.listings)})


class _PackageItem(BaseModel):
    orderItemId: str = Field(min_length=1)
    quantity: int = Field(gt=0)


class _Package(BaseModel):
    packageReferenceId: str = Field(pattern=r"^[1-9][0-9]*$")
    carrierCode: str = Field(min_length=1)
    carrierName: str | None = None
    trackingNumber: str = Field(min_length=1)
    shipDate: datetime
    orderItems: list[_PackageItem] = Field(min_length=1)


class _Confirmation(BaseModel):
    packageDetail: _Package
    marketplaceId: str = Field(min_length=1)


def confirm_shipment(call: Call) -> tuple[int, dict[str, Any]]:
    """POST …/orders/v0/orders/{order_id}/shipment/confirmation: 204, the items shipped."""
    doc = validated(_Confirmation, call.body)
    package = doc.packageDetail
    if package.carrierCode == "Other" and not package.carrierName:
        raise Rejected("packageDetail.carrierName: required when carrierCode is Other")
    held = order(call.store, call.params["name"], call.params["order_id"])
    if held is None:
        raise Rejected(f"order {call.params['order_id']} not found")
    if held["order"]["FulfillmentChannel"] == "AFN":
        raise Rejected("an order fulfilled by Amazon is shipped by Amazon")
    if held["order"]["MarketplaceId"] != doc.marketplaceId:
        raise Rejected("marketplaceId: not the order's marketplace")
    items = {item["OrderItemId"]: item for item in held["items"]}
    for shipped in package.orderItems:
        item = items.get(shipped.orderItemId)
        if item is None:
            raise Rejected(f"orderItemId {shipped.orderItemId}: not an item of the order")
        left = item["QuantityOrdered"] - item.get("QuantityShipped", 0)
        if shipped.quantity > left:
            raise Rejected(f"orderItemId {shipped.orderItemId}: only {left} left to ship")
    for shipped in package.orderItems:
        item = items[shipped.orderItemId]
        item["QuantityShipped"] = item.get("QuantityShipped", 0) + shipped.quantity
    shipped_all = all(i["QuantityOrdered"] <= i.get("QuantityShipped", 0) for i in held["items"])
    held["order"]["OrderStatus"] = "Shipped" if shipped_all else "PartiallyShipped"
    held["order"]["LastUpdateDate"] = _now()
    held["seq"] = call.store.next_seq(ORDERS)
    held["packages"].append(package.model_dump(mode="json"))
    return 204, {}


class _Patch(BaseModel):
    op: Literal["add", "replace", "delete"]
    path: str
    value: list[dict[str, Any]] = []


class _ListingsPatch(BaseModel):
    productType: str = Field(min_length=1)
    patches: list[_Patch] = Field(min_length=1)


class _Offered(BaseModel):
    fulfillment_channel_code: str = Field(min_length=1)
    quantity: int = Field(ge=0)


def patch_listing(call: Call) -> tuple[int, dict[str, Any]]:
    """PATCH …/listings/2021-08-01/items/{seller_id}/{sku}: a fulfillment_availability
    patch sets the listing's quantity in that fulfilment channel."""
    doc = validated(_ListingsPatch, call.body)
    params = call.params
    held = listing(call.store, params["name"], params["seller_id"], params["sku"])
    if held is None:
        raise Rejected(f"no listing of SKU {params['sku']} for seller {params['seller_id']}")
    for patch in doc.patches:
        if patch.path != "/attributes/fulfillment_availability":
            continue
        for entry in patch.value:
            offered = validated(_Offered, entry)
            codes = held["fulfillmentAvailability"]
            current = next(
                (
                    c
                    for c in codes
                    if c["fulfillmentChannelCode"] == offered.fulfillment_channel_code
                ),
                None,
            )
            if current is None:
                current = {"fulfillmentChannelCode": offered.fulfillment_channel_code}
                codes.append(current)
            current["quantity"] = offered.quantity
    submission = f"{call.store.next_seq('amazon_submissions'):032x}"
    return 200, {
        "sku": params["sku"],
        "status": "ACCEPTED",
        "submissionId": submission,
        "issues": [],
    }
