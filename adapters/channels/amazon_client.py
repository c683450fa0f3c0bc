"""The client of one Amazon channel's Selling Partner API, at its --api-url (the regional
endpoint, https://sellingpartnerapi-eu.amazon.com, or the simulator's
http://127.0.0.1:8090/channels/<name>).

Credentials (`ordersync channel add … --kind amazon`, stored encrypted): `access_token`
(an LWA access token, sent as x-amz-access-token), `marketplace_id` (the marketplace
the channel sells in: getOrders lists it, confirmShipment and the listings name it)
and `seller_id` (the selling partner's id, in the listings' path). A call that needs
one the channel lacks is a permanent error naming it.

Reads: getOrder, getOrderItems and getOrders, every NextToken page followed.
Writes: confirmShipment for a shipment, patchListingsItem for what a SKU may sell; the
other events ordersync sends every channel have no call in SP-API's order and listing
APIs, and their methods send nothing (each says why). Every write carries the
delivery's Idempotency-Key (Amazon ignores it; the simulator honours it).

Throttling: SP-API answers 429 with no Retry-After, but with x-amzn-RateLimit-Limit
(the operation's rate, requests per second): that is a blip, a TransientError whose
retry_after is one request's worth of that rate.
"""

from __future__ import annotations

import math
import urllib.parse
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
from opentelemetry import propagate
from pydantic import BaseModel, ConfigDict, ValidationError

from adapters.channels.amazon_documents import (
    confirmation_document,
    fulfilled_by_amazon_only,
    listings_patch,
    shipped_items,
)
from adapters.channels.amazon_orders import LIVE, MFN, WAITING, order_document
from adapters.channels.canonical import stock_document
from adapters.channels.kind import ListedOrder
from adapters.http.jsonutil import dumps, loads
from adapters.systems.errors import PermanentError, TransientError
from adapters.systems.http import MAX_REASON, TRANSIENT_STATUSES, SystemClient, parse_retry_after
from adapters.systems.paging import MAX_PAGES, schema_errors
from domain.commands import ExternalId, Timestamp
from domain.events import (
    InventoryChanged,
    OrderAccepted,
    OrderAmended,
    OrderBackordered,
    OrderCancelled,
    OrderHeld,
    OrderReleased,
    RefundRecorded,
    ReturnOpened,
    ReturnReceived,
    ShipmentDispatched,
)

ORDERS = "orders/v0/orders"
LISTINGS = "listings/2021-08-01/items"
RATE_LIMIT = "x-amzn-RateLimit-Limit"
PAGE_SIZE = 100  # getOrders' MaxResultsPerPage, at most 100
NOT_LISTED = "not sent: the SKU has no listing on this Amazon channel"
FBA_ONLY = "not sent: the SKU is fulfilled by Amazon only (Amazon counts its stock)"
NOTHING_TO_SEND = "not sent: SP-API has no call for this"


def _waiting(order: Mapping[str, Any]) -> bool:
    """Amazon has nothing to give of the order yet (amazon_orders.WAITING)."""
    status = order.get("OrderStatus")
    return isinstance(status, str) and status in WAITING


def _placeable(order: Mapping[str, Any]) -> bool:
    """A merchant-fulfilled order Amazon has not cancelled: placing it is applying it."""
    status = order.get("OrderStatus")
    return order.get("FulfillmentChannel") == MFN and isinstance(status, str) and status in LIVE


def _quote(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")


def throttle_wait(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait after a 429: Retry-After if given, else one request at the rate
    x-amzn-RateLimit-Limit names; None if neither says."""
    after = parse_retry_after(headers.get("Retry-After"))
    if after is not None:
        return after
    try:
        rate = float(headers.get(RATE_LIMIT, ""))
    except ValueError:
        return None
    return 1.0 / rate if math.isfinite(rate) and rate > 0 else None


def _reason(response: httpx.Response) -> str:
    """SP-API's own explanation ({"errors": [{"code", "message"}]}), a problem's detail,
    or the text."""
    try:
        body = loads(response.content)
    except (ValueError, RecursionError):
        body = None
    if isinstance(body, dict):
        errors = body.get("errors")
        first = errors[0] if isinstance(errors, list) and errors else None
        if isinstance(first, dict):
            return f"{first.get('code', 'error')}: {first.get('message', '')}"[:MAX_REASON]
        for name in ("detail", "message", "title"):
            if isinstance(body.get(name), str) and body[name]:
                return str(body[name])[:MAX_REASON]
    return response.text.strip()[:MAX_REASON] or response.reason_phrase or "no reason given"


class _Listed(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    AmazonOrderId: ExternalId
    LastUpdateDate: Timestamp


class AmazonClient(SystemClient):
    default_system = "channel"

    def __init__(
        self,
        api_url: str,
        *,
        channel: str | None = None,
        credentials: Mapping[str, str] | None = None,
        **options: Any,
    ) -> None:
        given = dict(credentials or {})
        token = given.get("access_token")
        super().__init__(
            api_url,
            system=f"channel:{channel}" if channel else None,
            headers={"x-amz-access-token": token} if token else None,
            **options,
        )
        self.channel = channel
        self.marketplace_id = given.get("marketplace_id") or None
        self.seller_id = given.get("seller_id") or None
        self.page_size = PAGE_SIZE

    def _needs(self, name: str) -> str:
        value = getattr(self, name)
        if not value:
            raise PermanentError(self.system, f"the channel has no {name} credential")
        return str(value)

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        document: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        headers: dict[str, str] = {}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        if document is not None:
            headers["Content-Type"] = "application/json"
        propagate.inject(headers)
        content = dumps(document) if document is not None else None
        response = self._send(method, path, params=params, content=content, headers=headers)
        status = response.status_code
        if status == 429:
            wait = throttle_wait(response.headers)
            raise TransientError(self.system, _reason(response), status=status, retry_after=wait)
        if status >= 500 or status in TRANSIENT_STATUSES:
            wait = parse_retry_after(response.headers.get("Retry-After"))
            raise TransientError(self.system, _reason(response), status=status, retry_after=wait)
        if not 200 <= status < 300:
            raise PermanentError(self.system, _reason(response), status=status)
        if not response.content:
            return {}
        try:
            reply = loads(response.content)
        except (ValueError, RecursionError):
            raise PermanentError(self.system, "the reply is not JSON", status=status) from None
        if not isinstance(reply, dict):
            raise PermanentError(self.system, "the reply is not a JSON object", status=status)
        return reply

    def _payload(self, reply: dict[str, Any], what: str) -> dict[str, Any]:
        payload = reply.get("payload")
        if not isinstance(payload, dict):
            raise PermanentError(self.system, f"malformed {what} reply: no payload object")
        return payload

    def _pages(
        self, path: str, first: Mapping[str, str | int], then: Mapping[str, str], member: str
    ) -> Iterator[Any]:
        """Every element of payload[member], page after page: the first page with `first`,
        each next one with `then` and its NextToken."""
        query, seen = dict(first), set()
        for _ in range(MAX_PAGES):
            payload = self._payload(self._call("GET", path, params=query), member)
            page = payload.get(member)
            if not isinstance(page, list):
                raise PermanentError(self.system, f"malformed reply: payload.{member} is no list")
            yield from page
            token = payload.get("NextToken")
            if token is None or token == "":
                return
            if not isinstance(token, str) or token in seen:
                raise PermanentError(self.system, f"the {member} pages repeat a NextToken")
            seen.add(token)
            query = {**then, "NextToken": token}
        raise PermanentError(self.system, f"the {member} pages did not end")

    def get_order(self, order_id: str) -> dict[str, Any]:
        """getOrder: the order's payload, as Amazon has it now."""
        return self._payload(self._call("GET", f"{ORDERS}/{_quote(order_id)}"), "getOrder")

    def order_items(self, order_id: str) -> list[Any]:
        """getOrderItems: every item of the order, every page."""
        path = f"{ORDERS}/{_quote(order_id)}/orderItems"
        return list(self._pages(path, {}, {}, "OrderItems"))

    def order_document(self, order_id: str) -> dict[str, Any]:
        """The order and its items (amazon_orders.OrderDocument); a pending order's items
        are not read, the normalizer takes nothing from it yet."""
        order = self.get_order(order_id)
        return order_document(order, [] if _waiting(order) else self.order_items(order_id))

    def orders_since(self, since: datetime, *, everything: bool = False) -> Iterator[ListedOrder]:
        """getOrders: the marketplace's orders Amazon changed after `since`, each with its
        items. A pending order is left for when it has them.

        `ordersync reconcile --channel` places what it lists as a new order (the kind's
        `normalize`, then place_order), which can neither cancel an order nor leave
        Amazon's own stock unreserved: so by default only the orders that placing gets
        right are listed, merchant-fulfilled ones Amazon has not cancelled. `everything`
        lists FBA and cancelled orders too, for a caller that applies the ChannelOrder
        (amazon_normalize.order_commands) of each document."""
        market = self._needs("marketplace_id")
        first: dict[str, str | int] = {
            "MarketplaceIds": market,
            "LastUpdatedAfter": since.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "MaxResultsPerPage": self.page_size,
        }
        for order in self._pages(ORDERS, first, {"MarketplaceIds": market}, "Orders"):
            try:
                listed = _Listed.model_validate(order)
            except ValidationError as error:
                reason = f"malformed getOrders reply: {schema_errors(error)}"
                raise PermanentError(self.system, reason) from None
            if _waiting(order) or not (everything or _placeable(order)):
                continue
            items = self.order_items(listed.AmazonOrderId)
            yield ListedOrder(listed.LastUpdateDate, order_document(order, items))

    def shipped(
        self,
        shipment: ShipmentDispatched,
        *,
        idempotency_key: str,
        shipped_at: datetime | None = None,
    ) -> str:
        """confirmShipment: the package with its tracking and the order items in it.
        `shipped_at` is when ordersync recorded the dispatch (the event's time: the same
        on every retry, so a retry is the same request)."""
        market = self._needs("marketplace_id")
        items = shipped_items(self.system, shipment, self.order_items(shipment.external_id))
        document = confirmation_document(
            shipment, items, marketplace_id=market, shipped_at=shipped_at or datetime.now(UTC)
        )
        path = f"{ORDERS}/{_quote(shipment.external_id)}/shipment/confirmation"
        self._call("POST", path, document=document, idempotency_key=idempotency_key)
        return "shipped"

    def update_stock(self, change: InventoryChanged, *, idempotency_key: str) -> int | str:
        """patchListingsItem: what the channel may sell of the SKU as its merchant-fulfilled
        quantity; the quantity sent. Not sent for a SKU Amazon does not list here, nor for
        an FBA-only one (getListingsItem says which)."""
        seller, market = self._needs("seller_id"), self._needs("marketplace_id")
        quantity = int(stock_document(change, self.channel)["available"])
        path = f"{LISTINGS}/{_quote(seller)}/{_quote(change.sku)}"
        query = {"marketplaceIds": market, "includedData": "fulfillmentAvailability"}
        try:
            listing = self._call("GET", path, params=query)
        except PermanentError as error:
            if error.status == 404:
                return NOT_LISTED
            raise
        if fulfilled_by_amazon_only(listing):
            return FBA_ONLY
        self._call(
            "PATCH",
            path,
            params={"marketplaceIds": market},
            document=listings_patch(quantity),
            idempotency_key=idempotency_key,
        )
        return quantity

    # Events SP-API has no call for. Each sends nothing and says so; the channel's own
    # view of the order moves with confirmShipment and with what Amazon does itself.

    def acknowledge(self, order: OrderAccepted, *, idempotency_key: str) -> str:
        """Nothing: an Amazon order needs no acknowledgement (Amazon's order
        acknowledgement is a feed for a few programmes, not an Orders API call)."""
        return NOTHING_TO_SEND

    def backordered(self, order: OrderBackordered, *, idempotency_key: str) -> str:
        """Nothing: Amazon has no backordered state; the buyer keeps the promised ship date."""
        return NOTHING_TO_SEND

    def held(self, order: OrderHeld, *, idempotency_key: str) -> str:
        """Nothing: a hold is ordersync's own business."""
        return NOTHING_TO_SEND

    def released(self, order: OrderReleased, *, idempotency_key: str) -> str:
        """Nothing: a hold is ordersync's own business."""
        return NOTHING_TO_SEND

    def refunded(self, refund: RefundRecorded, *, idempotency_key: str) -> str:
        """Nothing: Amazon refunds the buyer itself (Seller Central, a payment-adjustment
        feed, or A-to-z): the Orders API has no refund call."""
        return NOTHING_TO_SEND

    def amended(self, order: OrderAmended, *, idempotency_key: str) -> str:
        """Nothing: a seller cannot change an Amazon order's lines or address."""
        return NOTHING_TO_SEND

    def cancelled(self, cancel: OrderCancelled, *, idempotency_key: str) -> str:
        """Nothing: a seller cancels an Amazon order with an order-acknowledgement feed
        (Feeds API), not an Orders API call; that feed is not this client's."""
        return NOTHING_TO_SEND

    def return_update(self, ret: ReturnOpened | ReturnReceived, *, idempotency_key: str) -> str:
        """Nothing: Amazon runs an Amazon order's returns (authorisation, label, refund)."""
        return NOTHING_TO_SEND
