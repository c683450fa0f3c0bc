"""The Square channel kind, both directions: a Square seller's location, online and at
its tills.

Inbound, at POST /v1/webhooks/square (the door: adapters/http/webhooks.py):
- Square signs a notification with the subscription's signature key: the header
  `x-square-hmacsha256-signature` is the base64 HMAC-SHA256 of the notification URL (as
  the subscription names it: the channel's --notification-url) followed by the exact raw
  body. Checked in constant time with each of the channel's secrets, current first. No
  header says which seller sent it: the door tries each square channel's secret.
- The delivery's identity is the notification's `event_id`, its topic its `type`
  (order.created, order.updated; others are taken nothing from).
- order.created and order.updated carry only the order's id, version and state, so
  `interpret` fetches the order from the channel's --api-url (RetrieveOrder) with its
  lines' catalog variations, and reads it (adapters/channels/square_orders.py): a
  ChannelOrder at Square's version, or a PosSale for a sale completed at the counter. An
  order Square answers 404 for parks the delivery, for `ordersync inbound replay`.

Outbound (adapters/channels/square_client.py): stock figures as inventory counts at the
channel's Square location; nothing else has a Square call (the KIND's table says why,
event by event: `nothing`).

Square's canonical order API is POST /v1/orders as for every kind (verification
"api-key" there); its tills may also send batches of sales to POST /v1/pos/sales.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict

from adapters.channels.canonical import normalize_order
from adapters.channels.kind import ChannelKind
from adapters.channels.outbound import nothing, outbound_table
from adapters.channels.square_client import SquareClient
from adapters.channels.square_orders import catalog_ids, commands_of
from adapters.channels.webhook import (
    Credentials,
    InboundRequest,
    InvalidDelivery,
    Receipt,
    Webhook,
    hmac_sha256_base64,
    signature_matches,
)
from adapters.systems.errors import PermanentError
from adapters.systems.handlers import on
from domain.channel_commands import ChannelCommand
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

SIGNATURE_HEADER = "x-square-hmacsha256-signature"
ORDER_TOPICS = ("order.created", "order.updated")


class _Notification(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    merchant_id: str | None = None
    type: str
    event_id: str
    created_at: str | None = None
    data: dict[str, Any] = {}


def _parsed(request: InboundRequest) -> _Notification:
    """The notification, read after its signature passed (InvalidDelivery if it cannot be)."""
    try:
        return _Notification.model_validate(json.loads(request.body, parse_float=Decimal))
    except (ValueError, UnicodeDecodeError, RecursionError) as error:  # ValidationError too
        raise InvalidDelivery(f"not a Square notification: {error}"[:500]) from None


def identify(request: InboundRequest) -> str | None:
    """Square sends no header naming the seller: the door tries each channel's secret."""
    return None


def verify(request: InboundRequest, credentials: Credentials) -> str | None:
    """The check that passed over URL + raw body, or None (no URL, no or bad signature)."""
    given = request.header(SIGNATURE_HEADER)
    url = credentials.notification_url
    if given is None or not url:
        return None
    for number, secret in enumerate(credentials.secrets):
        if signature_matches(given, hmac_sha256_base64(secret, url.encode(), request.body)):
            return "hmac-sha256" if number == 0 else "hmac-sha256 (previous secret)"
    return None


def receipt(request: InboundRequest) -> Receipt:
    notification = _parsed(request)
    if not notification.event_id.strip() or len(notification.event_id) > 255:
        raise InvalidDelivery("the notification's event_id is empty or too long")
    return Receipt(delivery_id=notification.event_id, topic=notification.type[:64])


def order_id_of(notification: _Notification) -> str:
    """The order a notification names: data.id, or data.object.order_created/updated."""
    data = notification.data
    named = data.get("object", {}) if isinstance(data.get("object"), dict) else {}
    for key in ("order_created", "order_updated"):
        inner = named.get(key)
        if isinstance(inner, dict) and isinstance(inner.get("order_id"), str):
            return str(inner["order_id"])
    if isinstance(data.get("id"), str) and data["id"]:
        return str(data["id"])
    raise InvalidDelivery("the notification names no order")


def interpret(receipt: Receipt, request: InboundRequest, client: Any) -> Sequence[ChannelCommand]:
    """The order as Square has it now, fetched: its commands (none for other topics)."""
    if receipt.topic not in ORDER_TOPICS:
        return []
    order_id = order_id_of(_parsed(request))
    if client is None:
        raise InvalidDelivery("the channel has no --api-url: its Square orders cannot be read")
    try:
        document = client.retrieve_order(order_id)
    except PermanentError as error:
        if error.status == 404:
            raise InvalidDelivery(f"Square has no order {order_id} (404)") from None
        raise
    ids = catalog_ids(document)
    return commands_of(document, client.variation_skus(ids) if ids else {}, store=client.store)


WEBHOOK = Webhook(identify=identify, verify=verify, receipt=receipt, interpret=interpret)

KIND = ChannelKind(
    name="square",
    verification="hmac-sha256",
    normalize=normalize_order,
    client=SquareClient,
    outbound=outbound_table(
        # Square takes back only stock figures: the seller runs its orders in Square.
        nothing(OrderAccepted, "Square shows its own orders as received"),
        nothing(OrderBackordered, "Square has no backordered state"),
        nothing(
            ShipmentDispatched,
            "the seller completes fulfillments in Square (its dashboard, its tills); stock "
            "figures follow as inventory.changed",
        ),
        nothing(RefundRecorded, "refunds of Square payments are made in Square"),
        nothing(OrderCancelled, "Square's order is the seller's to cancel"),
        nothing(OrderAmended, "Square's order is the seller's to edit"),
        nothing(ReturnOpened, "returns of Square orders are taken at Square's tills"),
        nothing(ReturnReceived, "returns of Square orders are taken at Square's tills"),
        nothing(OrderHeld, "Square has no hold"),
        nothing(OrderReleased, "Square has no hold"),
        on(InventoryChanged, SquareClient.update_stock),
    ),
    webhook=WEBHOOK,
)
