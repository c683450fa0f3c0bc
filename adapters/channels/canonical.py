"""The canonical channel kind, both directions.

Inbound: a canonical order (the JSON body of POST /v1/orders), from a channel that
authenticates with its API key (checked by the HTTP door, adapters.http.auth, before
the body is read), validated into the canonical PlaceOrder command.

Outbound: order statuses, returns and stock figures back to the channel's API, rooted at its
`api_url` (the simulator's is http://127.0.0.1:8090/channels/<name>), with its bearer
token if its outbound credentials hold one ({"token": …}). A channel without an --api-url
takes nothing back (actors.channel says so by name).

Its list of orders, at the same `api_url`: GET orders?updated_since=ISO, paged, each item
{"updated_at": ISO with its offset, "order": a canonical order document}.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel

from adapters.channels.kind import ChannelKind, ListedOrder
from adapters.channels.outbound import outbound_table
from adapters.systems.handlers import on
from adapters.systems.http import SystemClient
from adapters.systems.paging import read_pages
from domain.commands import PlaceOrder
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


def refund_document(refund: RefundRecorded) -> dict[str, Any]:
    """Money was given back to the channel's customer: how much, for what."""
    return {
        "order_id": refund.order_id,
        "external_id": refund.external_id,
        "refund_id": refund.refund_id,
        "transaction_id": refund.transaction_id,
        "kind": refund.kind,
        "currency": refund.currency,
        "amount": refund.amount,
        "reason": refund.reason,
        "lines": [
            {"line_no": line.line_no, "sku": line.sku, "quantity": line.quantity}
            for line in refund.lines
        ],
    }


def amended_document(order: OrderAmended) -> dict[str, Any]:
    """Customer service changed the channel's order before shipment: its lines as they now
    are (a line taken down to nothing is left out) and why."""
    return {
        "order_id": order.order_id,
        "external_id": order.external_id,
        "status": "amended",
        "reason": order.reason,
        "lines": [
            {"line_no": line.line_no, "sku": line.sku, "quantity": line.quantity}
            for line in order.lines
            if line.quantity
        ],
    }


def cancelled_document(cancel: OrderCancelled) -> dict[str, Any]:
    """The channel's order was cancelled (nothing of it shipped), or some of its lines'
    unshipped quantities were: which lines, how many, and why."""
    return {
        "order_id": cancel.order_id,
        "external_id": cancel.external_id,
        "status": "cancelled" if cancel.whole else "partially_cancelled",
        "reason": cancel.reason,
        "lines": [
            {"line_no": line.line_no, "sku": line.sku, "quantity": line.quantity}
            for line in cancel.lines
        ],
    }


def return_document(ret: ReturnOpened | ReturnReceived) -> dict[str, Any]:
    """A return of the channel's order: opened (the goods are on their way back), or
    received (with each line's disposition: restock or damaged)."""
    received = isinstance(ret, ReturnReceived)
    return {
        "return_id": ret.return_id,
        "order_id": ret.order_id,
        "external_id": ret.external_id,
        "status": "received" if received else "open",
        "lines": [line.model_dump(exclude_none=True) for line in ret.lines],
    }


def stock_document(change: InventoryChanged, channel: str | None) -> dict[str, Any]:
    """What the channel may sell of a SKU: its own sellable figure (ATP less its safety
    stock); the ATP for a channel the event does not name (written before sellable
    figures existed, or before the channel was)."""
    available = change.sellable.get(channel) if channel is not None else None
    return {"sku": change.sku, "available": max(0, change.atp if available is None else available)}


PAGE_SIZE = 200


class _Listed(BaseModel):
    updated_at: AwareDatetime
    order: dict[str, Any]


class ChannelClient(SystemClient):
    """A client of one channel's API (`channel` names it in errors: channel:<name>).

    `credentials`: the channel's outbound credentials as stored (`ordersync channel
    credentials NAME --set`), decrypted. The canonical API takes one, {"token": "…"},
    sent as `Authorization: Bearer …` on every call; without it, calls carry none. Other
    entries are ignored here: they are for a kind with an API of its own.
    """

    default_system = "channel"

    def __init__(
        self,
        api_url: str,
        *,
        channel: str | None = None,
        credentials: Mapping[str, str] | None = None,
        **options: Any,
    ) -> None:
        token = (credentials or {}).get("token")
        if token:
            options["headers"] = {**options.get("headers", {}), "Authorization": f"Bearer {token}"}
        super().__init__(api_url, system=f"channel:{channel}" if channel else None, **options)
        self.channel = channel  # whose sellable figures it sends

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

    def refunded(self, refund: RefundRecorded, *, idempotency_key: str) -> str:
        """Tell the channel of a refund; the channel's refund reference."""
        reply = self.post("refunds", refund_document(refund), idempotency_key=idempotency_key)
        return str(reply.get("refund_ref", refund.refund_id))

    def amended(self, order: OrderAmended, *, idempotency_key: str) -> str:
        return self.update_order_status(amended_document(order), idempotency_key=idempotency_key)

    def cancelled(self, cancel: OrderCancelled, *, idempotency_key: str) -> str:
        return self.update_order_status(cancelled_document(cancel), idempotency_key=idempotency_key)

    def orders_since(self, since: datetime, *, page_size: int = PAGE_SIZE) -> Iterator[ListedOrder]:
        """The orders the channel changed at or after `since`, every page of them."""
        params: dict[str, str | int] = {"updated_since": since.isoformat(), "limit": page_size}
        for listed in read_pages(self, "orders", params, _Listed, what="orders"):
            external_id = listed.order.get("external_id")
            named = external_id if isinstance(external_id, str) else ""
            yield ListedOrder(listed.updated_at, listed.order, named.strip())

    def return_update(self, ret: ReturnOpened | ReturnReceived, *, idempotency_key: str) -> str:
        """Send a return document; the return's status as the channel shows it."""
        document = return_document(ret)
        reply = self.post("returns", document, idempotency_key=idempotency_key)
        return str(reply.get("status", document["status"]))

    def update_stock(self, change: InventoryChanged, *, idempotency_key: str) -> int:
        """Set the channel's sellable quantity of a SKU; the quantity it now shows."""
        document = stock_document(change, self.channel)
        reply = self.post("inventory", document, idempotency_key=idempotency_key)
        available = reply.get("available")
        return available if isinstance(available, int) else document["available"]


KIND = ChannelKind(
    name="canonical",
    verification="api-key",
    normalize=normalize_order,
    client=ChannelClient,
    outbound=outbound_table(
        on(OrderAccepted, ChannelClient.acknowledge),
        on(OrderBackordered, ChannelClient.backordered),
        on(ShipmentDispatched, ChannelClient.shipped),
        on(RefundRecorded, ChannelClient.refunded),
        on(OrderCancelled, ChannelClient.cancelled),
        on(OrderAmended, ChannelClient.amended),
        on(ReturnOpened, ChannelClient.return_update),
        on(ReturnReceived, ChannelClient.return_update),
        on(OrderHeld, ChannelClient.held),
        on(OrderReleased, ChannelClient.released),
        on(InventoryChanged, ChannelClient.update_stock),
    ),
    list_orders=ChannelClient.orders_since,
)
