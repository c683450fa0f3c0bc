"""The Shopify channel kind, both directions: its webhooks at POST /v1/webhooks/shopify,
and its Admin API for what goes back (shopify_client.py).

The kind's modules, together: shopify_payloads.py (Shopify's documents as we read them),
shopify_orders.py (an order as the canonical PlaceOrder, and the decisions that takes:
currency, taxes included, gift cards, line numbers), shopify_changes.py (refunds and
fulfillments), shopify_client.py (the Admin API), and this one (the door and the KIND).

The door (adapters/channels/webhook.py says what a kind brings to it):

- **identify**: X-Shopify-Shop-Domain, lower-cased ("acme.myshopify.com"), against each
  channel's --shop-domain.
- **verify**: X-Shopify-Hmac-Sha256 is the base64 HMAC-SHA256 of the exact raw body with
  the channel's webhook secret, compared in constant time; the secret a rotation
  replaced still verifies within its grace period, and says so.
- **receipt**: the delivery's identity is X-Shopify-Event-Id *with its topic*: Shopify
  gives every delivery of one merchant action the same event id (a refund fires
  refunds/create and orders/updated alike), so the id alone would drop the second as a
  duplicate; two subscriptions to one topic, or a retry, share both and are one
  delivery. Without an event id (older API versions), X-Shopify-Webhook-Id, which a retry
  keeps. Neither, or no X-Shopify-Topic: InvalidDelivery.
- **interpret**: orders/create, orders/updated and orders/cancelled → ChannelOrder (its
  version is updated_at, to the second; cancelled once cancelled_at is set);
  refunds/create → ChannelRefund (the order is read from Shopify to number the refunded
  lines, so that needs the channel's --api-url); fulfillments/create → ChannelShipment.
  Every other topic, and an order or fulfillment of nothing ours (gift cards only, a
  fulfillment not yet successful), is no command: the core marks the delivery ignored.
  Shopify's other order topics (orders/paid, orders/fulfilled…) each also fire
  orders/updated, which carries the same order: subscribe to the five above.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from adapters.channels.kind import ChannelKind
from adapters.channels.outbound import nothing, outbound_table
from adapters.channels.shopify_changes import (
    RefundBasis,
    needs_positions,
    refund_command,
    shipment_command,
)
from adapters.channels.shopify_client import ShopifyClient
from adapters.channels.shopify_orders import captured, place_order
from adapters.channels.shopify_payloads import Fulfillment, Order, Refund
from adapters.channels.webhook import (
    Credentials,
    InboundRequest,
    InvalidDelivery,
    Receipt,
    Webhook,
    hmac_sha256_base64,
    signature_matches,
)
from adapters.systems.handlers import on
from domain.channel_commands import ChannelCommand, ChannelOrder
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

ORDER_TOPICS = frozenset({"orders/create", "orders/updated", "orders/cancelled"})
REFUND_TOPIC = "refunds/create"
FULFILLMENT_TOPIC = "fulfillments/create"
MAX_DELIVERY_ID = 255  # inbound_deliveries.delivery_id
MAX_TOPIC = 64  # inbound_deliveries.topic
Document = TypeVar("Document", bound=BaseModel)


def identify(request: InboundRequest) -> str | None:
    """The shop's myshopify.com domain, lower-cased (None if the request has none)."""
    domain = (request.header("X-Shopify-Shop-Domain") or "").strip().lower()
    return domain or None


def verify(request: InboundRequest, credentials: Credentials) -> str | None:
    """Which secret signed the exact raw body (None: none did, or no signature)."""
    given = request.header("X-Shopify-Hmac-Sha256")
    if given is None:
        return None
    passed = None
    for number, secret in enumerate(credentials.secrets):
        # Every secret is tried (no early exit): the time taken says nothing of which.
        if secret and signature_matches(given, hmac_sha256_base64(secret, request.body)):
            passed = passed or ("hmac-sha256" if number == 0 else "hmac-sha256 (previous secret)")
    return passed


def receipt(request: InboundRequest) -> Receipt:
    """The delivery's identity (its event id and topic) and its topic."""
    topic = (request.header("X-Shopify-Topic") or "").strip().lower()
    if not topic or len(topic) > MAX_TOPIC:
        raise InvalidDelivery(f"X-Shopify-Topic must be 1 to {MAX_TOPIC} characters")
    event = (request.header("X-Shopify-Event-Id") or "").strip()
    webhook = (request.header("X-Shopify-Webhook-Id") or "").strip()
    if event:
        delivery = f"event:{event}:{topic}"
    elif webhook:
        delivery = f"webhook:{webhook}"
    else:
        raise InvalidDelivery("neither X-Shopify-Event-Id nor X-Shopify-Webhook-Id is given")
    if len(delivery) > MAX_DELIVERY_ID:
        raise InvalidDelivery("the delivery's id is too long")
    return Receipt(delivery_id=delivery, topic=topic)


def parse(body: bytes) -> Any:
    """The JSON body, exactly: ints stay ints (64-bit ids), decimals are Decimal."""
    try:
        return json.loads(body, parse_float=Decimal)
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
        raise InvalidDelivery(f"the body is not JSON: {str(error)[:200]}") from None


def _read(document: type[Document], body: bytes) -> Document:
    parsed = parse(body)
    if not isinstance(parsed, dict):
        raise InvalidDelivery("the body is not a JSON object")
    return document.model_validate(parsed)


def interpret(receipt: Receipt, request: InboundRequest, client: Any) -> Sequence[ChannelCommand]:
    """The delivery's canonical commands (none: ignored). InvalidDelivery or a
    ValidationError if it cannot be taken as it is; the client's errors if Shopify could
    not be read (a refund's order)."""
    if receipt.topic in ORDER_TOPICS:
        order = _read(Order, request.body)
        return order_commands(order, cancelled=receipt.topic == "orders/cancelled")
    if receipt.topic == REFUND_TOPIC:
        refund = _read(Refund, request.body)
        basis = RefundBasis()
        if needs_positions(refund):
            if client is None:
                raise InvalidDelivery(
                    "a refund's lines are numbered from its order, read from Shopify: "
                    "the channel needs its --api-url"
                )
            basis = client.refund_basis(refund.order_id)
        return (refund_command(refund, basis),)
    if receipt.topic == FULFILLMENT_TOPIC:
        shipment = shipment_command(_read(Fulfillment, request.body))
        return () if shipment is None else (shipment,)
    return ()


def order_commands(order: Order, *, cancelled: bool = False) -> tuple[ChannelCommand, ...]:
    """An order as a ChannelOrder at its updated_at (cancelled once cancelled_at is set);
    none for an order of nothing ours (gift cards only)."""
    placed = place_order(order)
    if placed is None:
        return ()
    cancelled = cancelled or order.cancelled_at is not None
    return (
        ChannelOrder(
            order=placed, version_at=order.updated_at, cancelled=cancelled, captured=captured(order)
        ),
    )


def listed_commands(document: object) -> tuple[ChannelCommand, ...]:
    """A listed order (orders.json) as its orders/updated webhook would be taken."""
    return order_commands(Order.model_validate(document))


def _invalid(message: str) -> ValidationError:
    return ValidationError.from_exception_data(
        "Shopify order",
        [{"type": "value_error", "loc": (), "input": None, "ctx": {"error": ValueError(message)}}],
    )


def normalize_order(document: object) -> PlaceOrder:
    """A Shopify order document (as orders.json lists it) → PlaceOrder, for reconciliation;
    a ValidationError (with InvalidDelivery's reason) if it cannot be taken."""
    try:
        placed = place_order(Order.model_validate(document))
    except InvalidDelivery as error:
        raise _invalid(str(error)) from None
    if placed is None:
        raise _invalid("nothing of the order is ours to fulfil (gift cards only)")
    return placed


KIND = ChannelKind(
    name="shopify",
    verification="hmac-sha256",
    normalize=normalize_order,
    client=ShopifyClient,
    outbound=outbound_table(
        nothing(OrderAccepted, "Shopify has no acknowledgement of an order it sent"),
        nothing(OrderBackordered, "Shopify has no backorder status (its stock shows the shortage)"),
        on(ShipmentDispatched, ShopifyClient.shipped),
        nothing(RefundRecorded, "a refund from Shopify it has; another must not move money twice"),
        on(OrderCancelled, ShopifyClient.cancelled),
        nothing(OrderAmended, "Shopify's order editing is GraphQL-only and re-prices the order"),
        nothing(ReturnOpened, "Shopify's returns are GraphQL-only"),
        nothing(ReturnReceived, "Shopify's returns are GraphQL-only"),
        nothing(OrderHeld, "fulfillment-order holds in Shopify are not driven from ordersync"),
        nothing(OrderReleased, "no hold was placed in Shopify (see order.held)"),
        on(InventoryChanged, ShopifyClient.update_stock),
    ),
    list_orders=ShopifyClient.orders_since,
    listed_commands=listed_commands,
    webhook=Webhook(identify=identify, verify=verify, receipt=receipt, interpret=interpret),
)
