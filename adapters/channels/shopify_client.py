"""The client of one Shopify shop's Admin REST API (2024-10), rooted at the channel's
--api-url: the shop's admin base (https://acme.myshopify.com), or the simulator's
(http://127.0.0.1:8090/channels/<name>). Its access token, from the channel's stored
credentials ({"access_token": …}), goes in X-Shopify-Access-Token; without one the client
still talks to the simulator. Every POST carries the delivery's Idempotency-Key, as every
client of ours does (Shopify's REST API ignores it; the simulator honours it).

What goes back to Shopify, and how:

- **shipment.dispatched → a fulfillment.** Shopify fulfils through fulfillment orders,
  whose ids an event does not know: the client reads the order's line items (GET
  orders/{id}.json) to find each shipped line's line item by its line number (the line
  numbers are the positions of the order's non-gift-card line items:
  shopify_orders.stock_lines), then the order's fulfillment orders (GET
  orders/{id}/fulfillment_orders.json) to find what of each is still fulfillable, and
  POSTs fulfillments.json with those, the tracking, and notify_customer false (the
  customer hears from ordersync's own flow). Retrying after a lost reply finds nothing
  left to fulfil and sends nothing: a fulfillment is never made twice, even against the
  real Shopify that ignores Idempotency-Key. Its reply's fulfillment id is returned: the
  id the fulfillments/create webhook that echoes it carries (its shipment_ref).
- **inventory.changed → inventory_levels/set.json** at the shop's location: the channel's
  credentials may name it (`location_id`); else the shop's primary location (GET
  shop.json, once). The SKU's inventory item comes from the GraphQL Admin API (POST
  graphql.json, productVariants with query sku:"…", exact matches only: Shopify's REST
  API has no lookup by SKU), cached per client for ten minutes, misses included. A SKU
  the shop does not sell is sent nowhere (None), never a dead letter: stock figures go to
  every channel. Several variants with one SKU are each set.
- **order.cancelled, whole → orders/{id}/cancel.json** (reason "other", no email). An
  order Shopify already shows cancelled (its own cancellation echoing back) is done.
- Nothing goes back for the rest, and the kind's table says why (shopify.py, `nothing`):
  Shopify has no call for an acknowledgement, a backorder, a hold or its release
  (fulfillment-order holds are not driven from here), an amendment or a partial
  cancellation (order editing is GraphQL-only and changes what the customer is charged),
  or a return (GraphQL-only); and a refund is never sent: one recorded from Shopify's own
  webhook Shopify already has, and one made by the payment platform must not be refunded
  a second time through Shopify (a refund there moves money).
- **Its list of orders** (reconciliation): GET orders.json?status=any&updated_at_min=…
  &limit=250, following the Link header's rel="next" page_info to the end (only limit and
  page_info go with it, as Shopify requires; the page is asked of our own shop, never of
  the Link's host, which would get the token); each order as a ListedOrder.
- **The circuit breaker's probe** reads shop.json: Shopify has no health route.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from adapters.channels.canonical import stock_document
from adapters.channels.kind import ListedOrder
from adapters.channels.shopify_changes import RefundBasis
from adapters.channels.shopify_orders import stock_lines
from adapters.channels.shopify_payloads import (
    FulfillmentOrders,
    ListedTime,
    OrderLines,
    VariantsReply,
)
from adapters.systems.errors import PermanentError, TransientError
from adapters.systems.http import MAX_REASON, SystemClient, classify, part_key
from adapters.systems.paging import schema_errors
from domain.events import (
    InventoryChanged,
    OrderCancelled,
    ShipmentDispatched,
)

API_VERSION = "2024-10"
ADMIN = f"admin/api/{API_VERSION}"
PAGE_SIZE = 250  # Shopify's largest page
MAX_PAGES = 100_000
CACHE_S = 600.0
NOT_SENT = "not sent"  # what a method returns that had nothing to send this time
OPEN_FULFILLMENT_ORDERS = frozenset({"open", "in_progress"})
VARIANTS_BY_SKU = """query ($q: String!) {
  productVariants(first: 10, query: $q) { nodes { sku inventoryItem { id } } }
}"""


Shape = TypeVar("Shape", bound=BaseModel)


def _order_id(external_id: str, system: str) -> int:
    if not (external_id.isascii() and external_id.isdigit()):
        raise PermanentError(system, f"{external_id[:40]!r} is not a Shopify order id")
    return int(external_id)


def _gid_number(gid: str) -> int | None:
    """123 of "gid://shopify/InventoryItem/123"."""
    tail = gid.rsplit("/", 1)[-1]
    return int(tail) if tail.isdigit() and tail.isascii() else None


class ShopifyClient(SystemClient):
    """A client of one shop's Admin API (`channel` names it in errors: channel:<name>)."""

    default_system = "channel"

    def __init__(
        self,
        api_url: str,
        *,
        channel: str | None = None,
        credentials: Mapping[str, str] | None = None,
        **options: Any,
    ) -> None:
        credentials = credentials or {}
        token = credentials.get("access_token")
        headers = {"X-Shopify-Access-Token": token} if token else {}
        system = f"channel:{channel}" if channel else None
        super().__init__(api_url, system=system, headers=headers, **options)
        self.channel = channel  # whose sellable figures it sends
        location = credentials.get("location_id") or ""
        given = location.isascii() and location.isdigit()
        self._location_id = int(location) if given else None
        self._items: dict[str, tuple[float, tuple[int, ...]]] = {}

    # Reads, parsed exactly (decimals as Decimal, ids as ints).

    def read(
        self, path: str, params: Mapping[str, str | int] | None = None
    ) -> tuple[dict[str, Any], httpx.Response]:
        """GET an Admin API resource: its JSON object and the response (for its headers)."""
        response = self._send("GET", path, params=params)
        return self._exact(response), response

    def _exact(self, response: httpx.Response) -> dict[str, Any]:
        if not 200 <= response.status_code < 300:
            classify(self.system, response)  # raises, with the system's reason
        try:
            body = json.loads(response.content, parse_float=Decimal)
        except (ValueError, RecursionError):
            raise PermanentError(self.system, "the reply is not JSON") from None
        if not isinstance(body, dict):
            raise PermanentError(self.system, "the reply is not a JSON object")
        return body

    def probe(self) -> bool:
        """Whether the shop answers (GET shop.json: Shopify has no health route)."""
        try:
            self.read(f"{ADMIN}/shop.json")
        except (TransientError, PermanentError):
            return False
        return True

    def _shaped(self, shape: type[Shape], body: Any, what: str) -> Shape:
        """The reply as `shape`, or a PermanentError saying where it breaks it."""
        try:
            return shape.model_validate(body)
        except ValidationError as error:
            reason = f"malformed {what} reply: {schema_errors(error)}"
            raise PermanentError(self.system, reason) from None

    def order(self, order_id: int, fields: str | None = None) -> dict[str, Any]:
        """One order as Shopify has it (GET orders/{id}.json)."""
        params = {"fields": fields} if fields else None
        body, _ = self.read(f"{ADMIN}/orders/{order_id}.json", params)
        order = body.get("order")
        if not isinstance(order, dict):
            raise PermanentError(self.system, f"the reply for order {order_id} has no order")
        return order

    def line_positions(self, order_id: int) -> dict[int, int]:
        """The order's line item ids → our line numbers (shopify_orders.stock_lines)."""
        return self.refund_basis(order_id).positions

    def refund_basis(self, order_id: int) -> RefundBasis:
        """What a refund's lines need of their order, in one read: our line numbers of its
        line items, and whether its prices include tax (then so do its refund lines')."""
        document = self.order(order_id, "id,line_items,taxes_included")
        shaped = self._shaped(OrderLines, document, "order")
        positions = {item.id: number for number, item in stock_lines(shaped.line_items)}
        return RefundBasis(positions, shaped.taxes_included)

    # What goes back to Shopify.

    def cancelled(self, cancel: OrderCancelled, *, idempotency_key: str) -> str:
        """Cancel the whole order in Shopify; a partial cancellation sends nothing."""
        if not cancel.whole:
            return NOT_SENT
        order_id = _order_id(cancel.external_id, self.system)
        path = f"{ADMIN}/orders/{order_id}/cancel.json"
        try:
            self.post(path, {"reason": "other", "email": False}, idempotency_key=idempotency_key)
        except PermanentError as error:
            # 422 "already cancelled": Shopify's own cancellation echoing back.
            if error.status != 422 or not self.order(order_id, "id,cancelled_at").get(
                "cancelled_at"
            ):
                raise
        return "cancelled"

    def shipped(self, shipment: ShipmentDispatched, *, idempotency_key: str) -> str:
        """Create the fulfillment of the shipped lines; its id (or NOT_SENT if Shopify has
        nothing of them left to fulfil: a retry, or Shopify's own fulfillment echoing)."""
        order_id = _order_id(shipment.external_id, self.system)
        positions = {n: item for item, n in self.line_positions(order_id).items()}
        wanted: dict[int, int] = {}  # line item id → quantity
        for line in shipment.lines:
            item_id = positions.get(line.line_no)
            if item_id is None:
                raise PermanentError(
                    self.system, f"line {line.line_no} is not a line of order {order_id}"
                )
            wanted[item_id] = wanted.get(item_id, 0) + line.quantity
        by_order = self._fulfillable(order_id, wanted)
        if not by_order:
            return NOT_SENT
        document = {
            "fulfillment": {
                "line_items_by_fulfillment_order": by_order,
                "tracking_info": {
                    "company": shipment.carrier,
                    "number": shipment.tracking_number,
                },
                "notify_customer": False,
            }
        }
        reply = self.post(f"{ADMIN}/fulfillments.json", document, idempotency_key=idempotency_key)
        fulfillment = reply.get("fulfillment")
        made = fulfillment.get("id") if isinstance(fulfillment, dict) else None
        if not isinstance(made, int):
            raise PermanentError(
                self.system, f"the reply has no fulfillment id: {reply!r}"[:MAX_REASON]
            )
        return str(made)

    def _fulfillable(self, order_id: int, wanted: dict[int, int]) -> list[dict[str, Any]]:
        """line_items_by_fulfillment_order for the wanted quantities, as far as Shopify
        still has them to fulfil."""
        body, _ = self.read(f"{ADMIN}/orders/{order_id}/fulfillment_orders.json")
        orders = self._shaped(FulfillmentOrders, body, "fulfillment orders").fulfillment_orders
        left = dict(wanted)
        chosen = []
        for fo in orders:
            if fo.status not in OPEN_FULFILLMENT_ORDERS:
                continue
            items = []
            for item in fo.line_items:
                take = min(left.get(item.line_item_id, 0), item.fulfillable_quantity)
                if take > 0:
                    items.append({"id": item.id, "quantity": take})
                    left[item.line_item_id] -= take
            if items:
                chosen.append(
                    {"fulfillment_order_id": fo.id, "fulfillment_order_line_items": items}
                )
        return chosen

    def update_stock(self, change: InventoryChanged, *, idempotency_key: str) -> int | None:
        """Set what the shop may sell of the SKU at its location; the quantity set, or None
        if the shop sells no variant with that SKU."""
        available = int(stock_document(change, self.channel)["available"])
        items = self._inventory_items(change.sku)
        if not items:
            return None
        location = self._location()
        for item in items:
            key = idempotency_key if len(items) == 1 else part_key(idempotency_key, str(item))
            document = {"location_id": location, "inventory_item_id": item, "available": available}
            self.post(f"{ADMIN}/inventory_levels/set.json", document, idempotency_key=key)
        return available

    def _location(self) -> int:
        if self._location_id is None:
            body, _ = self.read(f"{ADMIN}/shop.json")
            shop = body.get("shop")
            location = shop.get("primary_location_id") if isinstance(shop, dict) else None
            if not isinstance(location, int):
                raise PermanentError(self.system, "the shop has no primary_location_id")
            self._location_id = location
        return self._location_id

    def _inventory_items(self, sku: str) -> tuple[int, ...]:
        cached = self._items.get(sku)
        if cached is not None and time.monotonic() - cached[0] < CACHE_S:
            return cached[1]
        escaped = sku.replace("\\", "\\\\").replace('"', '\\"')
        body = {"query": VARIANTS_BY_SKU, "variables": {"q": f'sku:"{escaped}"'}}
        response = self._send(
            "POST",
            f"{ADMIN}/graphql.json",
            content=json.dumps(body),
            headers={"Content-Type": "application/json"},
        )
        reply = self._shaped(VariantsReply, self._exact(response), "productVariants")
        if reply.errors or reply.data is None:
            raise PermanentError(self.system, f"GraphQL: {reply.errors!r}"[:MAX_REASON])
        found = tuple(
            number
            for node in reply.data.product_variants.nodes
            if node.sku == sku
            and node.inventory_item is not None
            and (number := _gid_number(node.inventory_item.id)) is not None
        )
        self._items[sku] = (time.monotonic(), found)
        return found

    # Its list of orders (reconciliation).

    def orders_since(self, since: datetime, *, page_size: int = PAGE_SIZE) -> Iterator[ListedOrder]:
        """The orders Shopify changed at or after `since`, any status, every page."""
        params: dict[str, str | int] = {
            "status": "any",
            "updated_at_min": since.isoformat(),
            "limit": page_size,
        }
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            body, response = self.read(f"{ADMIN}/orders.json", params)
            orders = body.get("orders")
            if not isinstance(orders, list):
                raise PermanentError(self.system, "malformed orders reply: no orders list")
            for order in orders:
                listed = self._shaped(ListedTime, order, "orders")
                number = order.get("id")  # the order's external id, as shopify_orders has it
                yield ListedOrder(listed.updated_at, order, str(number) if number else "")
            following = response.links.get("next", {}).get("url")
            page_info = httpx.URL(following).params.get("page_info") if following else None
            if not page_info:
                return
            if page_info in seen:
                raise PermanentError(self.system, "the orders list repeats a page")
            seen.add(page_info)
            params = {"limit": page_size, "page_info": page_info}
        raise PermanentError(self.system, f"the orders list did not end after {MAX_PAGES} pages")
