"""The canonical channel kind, both directions.

Inbound: a canonical order (the JSON body of POST /v1/orders), from a channel that
authenticates with its API key (checked by the HTTP door, adapters.http.auth, before
the body is read), validated into the canonical PlaceOrder command.

Outbound: order statuses and stock figures back to the channel's API, rooted at its
`api_url` (the simulator's is http://127.0.0.1:8090/channels/<name>). A channel without
an --api-url takes nothing back (actors.channel says so by name).

Its list of orders, at the same `api_url`: GET orders?updated_since=ISO, paged, each item
{"updated_at": ISO with its offset, "order": a canonical order document}.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel

from adapters.channels.kind import ChannelKind, ListedOrder, Outbound
from adapters.systems.handlers import on
from adapters.systems.http import SystemClient
from adapters.systems.paging import read_pages
from domain.commands import PlaceOrder
from domain.events import (
    InventoryChanged,
    OrderAccepted,
    OrderBackordered,
    OrderHeld,
    OrderReleased,
    ShipmentDispatched,
)
from outbox.routing import ALL_CHANNELS, ORIGIN_CHANNEL


def normalize_order(body: object) -> PlaceOrder:
    """The canonical command from a canonical order's JSON body (a ValidationError if bad)."""
    return PlaceOrder.model_validate(body)


def acknowledged_document(order: OrderAccepted) -> dict[str, Any]:
    """The channel's order is acknowledged: ordersync has it."""
    return {"order_id": order.order_id, "external_id": order.external_id, "status": "acknowledged"}


def backordered_document(order: OrderBackordered) -> dict[str, Any]:
    """Some of the channel's order waits for stock: which lines, how many."""
    return {
        "order_id": order.order_id,
        "external_id": order.external_id,
        "status": "backordered",
        "lines": [
            {"line_no": line.line_no, "sku": line.sku, "quantity": line.quantity}
            for line in order.lines
        ],
    }


def held_document(order: OrderHeld) -> dict[str, Any]:
    """The channel's order is on hold (why is ordersync's business: the reasons stay in)."""
    return {"order_id": order.order_id, "external_id": order.external_id, "status": "on_hold"}


def released_document(order: OrderReleased) -> dict[str, Any]:
    """The channel's order is no longer on hold: it goes on to fulfilment."""
    return {"order_id": order.order_id, "external_id": order.external_id, "status": "released"}


def shipped_document(shipment: ShipmentDispatched) -> dict[str, Any]:
    """Part or all of the channel's order has shipped, with its tracking."""
    return {
        "order_id": shipment.order_id,
        "external_id": shipment.external_id,
        "status": "shipped",
        "tracking": {
            "carrier": shipment.carrier,
            "tracking_number": shipment.tracking_number,
            "location": shipment.location,
        },
        "lines": [{"sku": line.sku, "quantity": line.quantity} for line in shipment.lines],
    }


def stock_document(change: InventoryChanged) -> dict[str, Any]:
    """What the channel may sell of a SKU: its available-to-promise quantity."""
    return {"sku": change.sku, "available": max(0, change.atp)}


PAGE_SIZE = 200


class _Listed(BaseModel):
    updated_at: AwareDatetime
    order: dict[str, Any]


class ChannelClient(SystemClient):
    """A client of one channel's API (`channel` names it in errors: channel:<name>)."""

    default_system = "channel"

    def __init__(self, api_url: str, *, channel: str | None = None, **options: Any) -> None:
        super().__init__(api_url, system=f"channel:{channel}" if channel else None, **options)

    def update_order_status(self, document: dict[str, Any], *, idempotency_key: str) -> str:
        """Send an order-status document (see the *_document functions); the status shown."""
        reply = self.post("order-status", document, idempotency_key=idempotency_key)
        return str(reply.get("status", document["status"]))

    def acknowledge(self, order: OrderAccepted, *, idempotency_key: str) -> str:
        return self.update_order_status(
            acknowledged_document(order), idempotency_key=idempotency_key
        )

    def backordered(self, order: OrderBackordered, *, idempotency_key: str) -> str:
        return self.update_order_status(
            backordered_document(order), idempotency_key=idempotency_key
        )

    def held(self, order: OrderHeld, *, idempotency_key: str) -> str:
        return self.update_order_status(held_document(order), idempotency_key=idempotency_key)

    def released(self, order: OrderReleased, *, idempotency_key: str) -> str:
        return self.update_order_status(released_document(order), idempotency_key=idempotency_key)

    def shipped(self, shipment: ShipmentDispatched, *, idempotency_key: str) -> str:
        return self.update_order_status(shipped_document(shipment), idempotency_key=idempotency_key)

    def orders_since(self, since: datetime, *, page_size: int = PAGE_SIZE) -> Iterator[ListedOrder]:
        """The orders the channel changed at or after `since`, every page of them."""
        params: dict[str, str | int] = {"updated_since": since.isoformat(), "limit": page_size}
        for listed in read_pages(self, "orders", params, _Listed, what="orders"):
            yield ListedOrder(listed.updated_at, listed.order)

    def update_stock(self, change: InventoryChanged, *, idempotency_key: str) -> int:
        """Set the channel's sellable quantity of a SKU; the quantity it now shows."""
        reply = self.post("inventory", stock_document(change), idempotency_key=idempotency_key)
        available = reply.get("available")
        return available if isinstance(available, int) else stock_document(change)["available"]


KIND = ChannelKind(
    name="canonical",
    verification="api-key",
    normalize=normalize_order,
    client=ChannelClient,
    outbound=(
        Outbound(ORIGIN_CHANNEL, on(OrderAccepted, ChannelClient.acknowledge)),
        Outbound(ORIGIN_CHANNEL, on(OrderBackordered, ChannelClient.backordered)),
        Outbound(ORIGIN_CHANNEL, on(ShipmentDispatched, ChannelClient.shipped)),
        Outbound(ORIGIN_CHANNEL, on(OrderHeld, ChannelClient.held)),
        Outbound(ORIGIN_CHANNEL, on(OrderReleased, ChannelClient.released)),
        Outbound(ALL_CHANNELS, on(InventoryChanged, ChannelClient.update_stock)),
    ),
    list_orders=ChannelClient.orders_since,
)
