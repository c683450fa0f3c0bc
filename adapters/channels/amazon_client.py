"""The client of one Amazon channel's Selling Partner API, at its --api-url (the regional
endpoint, https://sellingpartnerapi-eu.amazon.com, or the simulator's
http://127.0.0.1:8090/channels/<name>); its HTTP side, credentials and throttling are
amazon_spapi.py's.

Reads: getOrder, getOrderItems and getOrders, every NextToken page followed (getOrders
needs the `marketplace_id` credential). Writes: confirmShipment for a shipment (with
`marketplace_id`), patchListingsItem for what a SKU may sell (with `seller_id` and
`marketplace_id`); the other events ordersync sends every channel have no call in
SP-API's order and listing APIs: the kind's table sends nothing for them, saying why
(amazon.py, `nothing`). Every
call made for a delivery carries its Idempotency-Key (Amazon ignores it; the
simulator honours it on writes).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from adapters.channels.amazon_documents import (
    confirmation_document,
    fulfilled_by_amazon_only,
    listings_patch,
    shipped_items,
)
from adapters.channels.amazon_orders import WAITING, order_document
from adapters.channels.amazon_spapi import SpApiClient
from adapters.channels.canonical import stock_document
from adapters.channels.kind import ListedOrder
from adapters.systems.errors import PermanentError
from adapters.systems.paging import schema_errors
from domain.commands import ExternalId, Timestamp
from domain.events import (
    InventoryChanged,
    ShipmentDispatched,
)

ORDERS = "orders/v0/orders"
LISTINGS = "listings/2021-08-01/items"
PAGE_SIZE = 100  # getOrders' MaxResultsPerPage, at most 100
NOT_LISTED = "not sent: the SKU has no listing on this Amazon channel"
FBA_ONLY = "not sent: the SKU is fulfilled by Amazon only (Amazon counts its stock)"


def _waiting(order: Mapping[str, Any]) -> bool:
    """Amazon has nothing to give of the order yet (amazon_orders.WAITING)."""
    status = order.get("OrderStatus")
    return isinstance(status, str) and status in WAITING


def _quote(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")


class _Listed(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    AmazonOrderId: ExternalId
    LastUpdateDate: Timestamp


class AmazonClient(SpApiClient):
    """An Amazon channel's orders and listings (see the module's docstring)."""

    page_size = PAGE_SIZE  # getOrders' MaxResultsPerPage

    def get_order(self, order_id: str) -> dict[str, Any]:
        """getOrder: the order's payload, as Amazon has it now."""
        return self._payload(self._call("GET", f"{ORDERS}/{_quote(order_id)}"), "getOrder")

    def order_items(self, order_id: str, *, idempotency_key: str | None = None) -> list[Any]:
        """getOrderItems: every item of the order, every page (`idempotency_key`: the
        delivery's, when read for one)."""
        path = f"{ORDERS}/{_quote(order_id)}/orderItems"
        return list(self._pages(path, {}, {}, "OrderItems", idempotency_key))

    def order_document(self, order_id: str) -> dict[str, Any]:
        """The order and its items (amazon_orders.OrderDocument); a pending order's items
        are not read, the normalizer takes nothing from it yet."""
        order = self.get_order(order_id)
        return order_document(order, [] if _waiting(order) else self.order_items(order_id))

    def orders_since(self, since: datetime) -> Iterator[ListedOrder]:
        """getOrders: the marketplace's orders Amazon changed after `since`, each with its
        items; FBA and cancelled ones too (`ordersync reconcile --channel` applies each
        through the door's path, amazon_normalize.order_commands: FBA reserves nothing, a
        cancellation cancels). A pending order is left for when it has them."""
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
            if _waiting(order):
                continue
            items = self.order_items(listed.AmazonOrderId)
            document = order_document(order, items)
            yield ListedOrder(listed.LastUpdateDate, document, listed.AmazonOrderId)

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
        ordered = self.order_items(shipment.external_id, idempotency_key=idempotency_key)
        items = shipped_items(self.system, shipment, ordered)
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
            listing = self._call("GET", path, params=query, idempotency_key=idempotency_key)
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
