"""The WooCommerce channel kind, both directions (the worked example of
docs/adding-a-channel.md: the smallest of the kinds with a door of their own).

Inbound, at POST /v1/webhooks/woocommerce: a webhook of topic order.created or
order.updated (WooCommerce fires order.updated for new orders too), its body the REST v3
order. X-WC-Webhook-Source (the site's URL) identifies the channel by its --shop-domain;
X-WC-Webhook-Signature is the base64 HMAC-SHA256 of the raw body with the webhook's
secret. The delivery's identity is X-WC-Webhook-Delivery-ID *with the body's sha256*:
WooCommerce derives that id from the webhook id and the current second, so two
deliveries of one webhook within a second share it — alone it would dedup away a real
change. The business version is date_modified_gmt (one-second resolution; what a tie
means is domain/channel_order_sync.py's). A new webhook first sends an unsigned,
form-encoded ping (`webhook_id=N`): the door answers it 200 and writes nothing.

Outbound, to the channel's --api-url (a site's root, https://shop.example.com; the
simulator's /channels/<name>): the REST v3 API under wp-json/wc/v3, with the channel's
consumer key and secret (credentials {"consumer_key", "consumer_secret"}) as HTTP Basic.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from decimal import ROUND_CEILING, Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from adapters.channels.canonical import ChannelClient
from adapters.channels.kind import ChannelKind
from adapters.channels.outbound import nothing, outbound_table
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
from adapters.systems.http import classify
from domain.channel_commands import ChannelCommand, ChannelOrder
from domain.commands import PlaceOrder
from domain.currency import EXPONENTS
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

NAME = "woocommerce"
ORDER_TOPICS = ("order.created", "order.updated", "order.restored")
_PING = re.compile(rb"^webhook_id=[0-9]{1,20}$")

# --- inbound: the webhook --------------------------------------------------------------


def identify(request: InboundRequest) -> str | None:
    """The site that sent it (X-WC-Webhook-Source, "https://shop.example.com/")."""
    return request.header("X-WC-Webhook-Source") or None


def verify(request: InboundRequest, credentials: Credentials) -> str | None:
    """X-WC-Webhook-Signature against each of the channel's secrets, over the raw bytes."""
    given = request.header("X-WC-Webhook-Signature")
    for number, secret in enumerate(credentials.secrets):
        if signature_matches(given, hmac_sha256_base64(secret, request.body)):
            return "hmac-sha256" if number == 0 else "hmac-sha256 (previous secret)"
    return None


def receipt(request: InboundRequest) -> Receipt:
    """Its delivery id (WooCommerce's, with the body's digest) and topic."""
    delivery = (request.header("X-WC-Webhook-Delivery-ID") or "").strip()
    topic = (request.header("X-WC-Webhook-Topic") or "").strip()
    if not delivery or len(delivery) > 128:
        raise InvalidDelivery("X-WC-Webhook-Delivery-ID is missing or longer than 128")
    if not topic or len(topic) > 64:
        raise InvalidDelivery("X-WC-Webhook-Topic is missing or longer than 64")
    return Receipt(f"{delivery}:{hashlib.sha256(request.body).hexdigest()}", topic)


def is_ping(request: InboundRequest) -> bool:
    """The ping a new webhook sends: unsigned, form-encoded `webhook_id=N`."""
    return request.header("X-WC-Webhook-Signature") is None and bool(_PING.match(request.body))


def interpret(receipt: Receipt, request: InboundRequest, client: Any) -> list[ChannelCommand]:
    """An order topic's body → its ChannelOrder; other topics mean nothing to us ([])."""
    if receipt.topic not in ORDER_TOPICS:
        return []
    try:
        document = json.loads(request.body, parse_float=Decimal)
    except (ValueError, RecursionError) as error:
        raise InvalidDelivery(f"the body is not JSON: {error}") from None
    order = WcOrder.model_validate(document)
    if order.status in IGNORED_STATUSES:
        return []
    return [channel_order(order)]


WEBHOOK = Webhook(
    identify=identify, verify=verify, receipt=receipt, interpret=interpret, ping=is_ping
)

# --- inbound: the REST v3 order, and its canonical form ---------------------------------

# WooCommerce's numbers (line prices) and decimal strings: at most 18 digits, 6 decimals.
WcAmount = Annotated[Decimal, Field(max_digits=18, decimal_places=6, allow_inf_nan=False)]
WcId = Annotated[int, Field(ge=0, le=2**64 - 1)]


class _Wc(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class WcAddress(_Wc):
    first_name: str = ""
    last_name: str = ""
    company: str = ""
    address_1: str = ""
    address_2: str = ""
    city: str = ""
    state: str = ""
    postcode: str = ""
    country: str = ""
    email: str = ""
    phone: str = ""

    def name(self) -> str:
        return " ".join(p for p in (self.first_name.strip(), self.last_name.strip()) if p)


class WcLineItem(_Wc):
    id: WcId
    name: str = ""
    product_id: WcId = 0
    variation_id: WcId = 0
    quantity: Annotated[int, Field(strict=True, ge=1, le=100_000)]
    subtotal: WcAmount  # before discounts, excluding tax (WooCommerce's line_subtotal)
    total: WcAmount  # after discounts, excluding tax
    total_tax: WcAmount = Decimal(0)
    sku: str | None = ""
    # total / quantity as a JSON number (a PHP float, up to 17 digits): read exactly, as
    # every number here is, but not used — subtotal and total are the line's money.
    price: Annotated[Decimal, Field(max_digits=40, allow_inf_nan=False)] | None = None

    def channel_sku(self) -> str:
        """Its SKU; a product without one by its id, for `ordersync sku map`."""
        return (self.sku or "").strip() or f"wc-product-{self.variation_id or self.product_id}"


class WcShippingLine(_Wc):
    method_title: str = ""
    method_id: str = ""
    total: WcAmount = Decimal(0)
    total_tax: WcAmount = Decimal(0)


class WcFeeLine(_Wc):
    name: str = ""
    total: WcAmount = Decimal(0)


class WcOrder(_Wc):
    id: WcId
    status: str
    currency: str
    date_created_gmt: str
    date_modified_gmt: str | None = None
    total: WcAmount
    billing: WcAddress = WcAddress()
    shipping: WcAddress | None = None
    payment_method: str = ""
    payment_method_title: str = ""
    date_paid_gmt: str | None = None
    line_items: Annotated[list[WcLineItem], Field(max_length=500)]
    shipping_lines: Annotated[list[WcShippingLine], Field(max_length=50)] = []
    fee_lines: Annotated[list[WcFeeLine], Field(max_length=50)] = []


# WooCommerce's order statuses → the payment status of the canonical order, or cancelled.
PAYMENT_STATUSES = {
    "pending": "pending",
    "on-hold": "pending",
    "processing": "paid",
    "completed": "paid",
    "failed": "failed",
}
CANCELLED_STATUSES = {"cancelled": "pending", "refunded": "refunded"}
# Not an order yet (the block checkout's draft), or in the bin: nothing for us.
IGNORED_STATUSES = frozenset({"checkout-draft", "trash"})


def _gmt(value: str | None) -> str | None:
    """WooCommerce's *_gmt times carry no zone ("2026-11-26T10:00:00"): they are UTC."""
    if not value:
        return None
    return value if value.endswith(("Z", "z")) or "+" in value[10:] else value + "Z"


def _address(block: WcAddress | None) -> dict[str, Any] | None:
    if block is None or not block.address_1.strip():
        return None
    return {
        "name": block.name() or block.company.strip() or None,
        "line1": block.address_1,
        "line2": block.address_2 or None,
        "city": block.city,
        "postal_code": block.postcode or None,
        "region": block.state or None,
        "country": block.country.upper(),
    }


def _line(item: WcLineItem, unit: Decimal) -> dict[str, Any]:
    """A line item as a canonical line. WooCommerce gives the line's subtotal and total;
    a unit price that does not divide evenly is rounded up to the currency's unit and the
    rest shown as discount, so the line's net (unit × quantity − discount) is exactly its
    total."""
    price = (item.subtotal / item.quantity).quantize(unit, rounding=ROUND_CEILING)
    return {
        "sku": item.channel_sku(),
        "quantity": item.quantity,
        "unit_price": price,
        "discount": price * item.quantity - item.total,
        "tax": item.total_tax,
    }


def _exponent_unit(currency: str) -> Decimal:
    if currency not in EXPONENTS:
        raise InvalidDelivery(f"currency {currency!r} is not one ordersync accepts")
    return Decimal(1).scaleb(-EXPONENTS[currency])


def place_order(order: WcOrder) -> PlaceOrder:
    """The canonical order of a WooCommerce order (a ValidationError, or InvalidDelivery
    for what has no canonical form: fee lines)."""
    unit = _exponent_unit(order.currency)
    fees = [fee for fee in order.fee_lines if fee.total]
    if fees:
        names = ", ".join(fee.name or "(unnamed)" for fee in fees)
        raise InvalidDelivery(f"fee lines have no canonical form: {names}")
    billing = _address(order.billing)
    shipping_address = _address(order.shipping) or billing
    name = order.billing.name() or (shipping_address or {}).get("name") or order.billing.email
    if shipping_address is not None and not shipping_address["name"]:
        shipping_address = {**shipping_address, "name": name}
    if billing is not None and not billing["name"]:
        billing = {**billing, "name": name}
    shipping = None
    if order.shipping_lines:
        titles = [s.method_title or s.method_id for s in order.shipping_lines]
        shipping = {
            "method": next((t for t in titles if t), "shipping"),
            "amount": sum((s.total for s in order.shipping_lines), Decimal(0)),
            "tax": sum((s.total_tax for s in order.shipping_lines), Decimal(0)),
        }
    status = PAYMENT_STATUSES.get(order.status) or CANCELLED_STATUSES.get(order.status)
    if status is None:
        raise InvalidDelivery(f"WooCommerce status {order.status!r} is not one ordersync knows")
    document = {
        "external_id": str(order.id),
        "placed_at": _gmt(order.date_created_gmt),
        "currency": order.currency,
        "customer": {"email": order.billing.email, "name": name, "phone": order.billing.phone},
        "shipping_address": shipping_address,
        "billing_address": billing,
        "lines": [_line(item, unit) for item in order.line_items],
        "shipping": shipping,
        "payment": {
            "method": order.payment_method_title or order.payment_method or "none",
            "status": status,
            "amount": order.total,
        },
        "totals": {"grand_total": order.total},
    }
    return PlaceOrder.model_validate(document)


def channel_order(order: WcOrder) -> ChannelOrder:
    """The order as the channel has it now, at its date_modified_gmt."""
    return ChannelOrder.model_validate(
        {
            "order": place_order(order),
            "version_at": _gmt(order.date_modified_gmt or order.date_created_gmt),
            "cancelled": order.status in CANCELLED_STATUSES,
        }
    )


def normalize(body: object) -> PlaceOrder:
    """A REST v3 order's parsed JSON → the canonical command (ValidationError if bad)."""
    return place_order(WcOrder.model_validate(body))


# --- outbound: the REST v3 API ----------------------------------------------------------

API = "wp-json/wc/v3"


def note_document(text: str) -> dict[str, Any]:
    """A private order note (POST orders/{id}/notes): what WooCommerce has no field for."""
    return {"note": text, "customer_note": False}


def shipped_document(shipment: ShipmentDispatched) -> dict[str, Any]:
    """The order update of a shipment: completed once all of it has shipped (its status
    fulfilled), and the tracking as order meta (ordersync's own keys; every parcel
    appends one)."""
    document: dict[str, Any] = {
        "meta_data": [
            {
                "key": "_ordersync_tracking",
                "value": {
                    "carrier": shipment.carrier,
                    "tracking_number": shipment.tracking_number,
                    "shipment_id": shipment.shipment_id,
                    "items": [{"sku": ln.sku, "quantity": ln.quantity} for ln in shipment.lines],
                },
            }
        ]
    }
    if shipment.status == "fulfilled":
        document["status"] = "completed"
    return document


def refund_document(refund: RefundRecorded) -> dict[str, Any]:
    """A refund record (POST orders/{id}/refunds) with api_refund false: the money was
    already given back (by the payment platform); WooCommerce only records it."""
    return {"amount": refund.amount, "reason": refund.reason, "api_refund": False}


def stock_document(change: InventoryChanged, channel: str | None) -> dict[str, Any]:
    """A product's stock (PUT products/{id}): the channel's sellable figure, managed."""
    available = change.sellable.get(channel) if channel is not None else None
    quantity = max(0, change.atp if available is None else available)
    return {"manage_stock": True, "stock_quantity": quantity}


class WooCommerceClient(ChannelClient):
    """The REST v3 API of one WooCommerce site. Every write carries the delivery's
    Idempotency-Key (WooCommerce ignores it; the simulator and proxies honour it); the
    updates are PUTs of absolute values, so a repeat changes nothing anyway.

    Stock goes by product id, which WooCommerce's stock update needs: the SKU is looked
    up once (GET products?sku=, a variation's parent taken from the reply) and the id kept
    for the client's life, then PUT products/{id} (or …/{parent}/variations/{id}).
    A SKU the site does not sell is left alone."""

    def __init__(
        self,
        api_url: str,
        *,
        channel: str | None = None,
        credentials: Mapping[str, str] | None = None,
        **options: Any,
    ) -> None:
        headers = dict(options.pop("headers", None) or {})
        if credentials and credentials.get("consumer_key"):
            pair = f"{credentials['consumer_key']}:{credentials.get('consumer_secret', '')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        super().__init__(api_url, channel=channel, headers=headers, **options)
        self._products: dict[str, str] = {}  # SKU → its path under products/

    def put(self, path: str, document: Mapping[str, Any], *, idempotency_key: str) -> Any:
        headers = {"Content-Type": "application/json", "Idempotency-Key": idempotency_key}
        body = json.dumps(document, default=str, separators=(",", ":"))
        return classify(self.system, self._send("PUT", path, content=body, headers=headers))

    def note(self, external_id: str, text: str, *, idempotency_key: str) -> str:
        self.post(
            f"{API}/orders/{external_id}/notes",
            note_document(text),
            idempotency_key=idempotency_key,
        )
        return "noted"

    def backordered(self, order: OrderBackordered, *, idempotency_key: str) -> str:
        """A note: WooCommerce's order has no backorder state (its products do)."""
        short = ", ".join(f"{ln.quantity} × {ln.sku}" for ln in order.lines)
        return self.note(
            order.external_id, f"Backordered: {short}", idempotency_key=idempotency_key
        )

    def held(self, order: OrderHeld, *, idempotency_key: str) -> str:
        """A note (WooCommerce's on-hold means awaiting payment, not ours)."""
        return self.note(order.external_id, "On hold at ordersync", idempotency_key=idempotency_key)

    def released(self, order: OrderReleased, *, idempotency_key: str) -> str:
        """A note."""
        text = "Released for fulfilment"
        return self.note(order.external_id, text, idempotency_key=idempotency_key)

    def shipped(self, shipment: ShipmentDispatched, *, idempotency_key: str) -> str:
        """PUT orders/{id}: completed when all has shipped, the tracking as meta."""
        document = shipped_document(shipment)
        reply = self.put(
            f"{API}/orders/{shipment.external_id}", document, idempotency_key=idempotency_key
        )
        return str(reply.get("status", document.get("status", "processing")))

    def refunded(self, refund: RefundRecorded, *, idempotency_key: str) -> str:
        """POST orders/{id}/refunds, recorded only (api_refund false); WooCommerce's id."""
        reply = self.post(
            f"{API}/orders/{refund.external_id}/refunds",
            refund_document(refund),
            idempotency_key=idempotency_key,
        )
        return str(reply.get("id", refund.refund_id))

    def amended(self, order: OrderAmended, *, idempotency_key: str) -> str:
        """A note: WooCommerce's REST API cannot change an order's lines in place."""
        lines = ", ".join(f"{ln.quantity} × {ln.sku}" for ln in order.lines if ln.quantity)
        text = f"Amended ({order.reason or 'no reason given'}): {lines}"
        return self.note(order.external_id, text, idempotency_key=idempotency_key)

    def cancelled(self, cancel: OrderCancelled, *, idempotency_key: str) -> str:
        """PUT status cancelled for the whole order; a note for some units of it."""
        if cancel.whole:
            reply = self.put(
                f"{API}/orders/{cancel.external_id}",
                {"status": "cancelled"},
                idempotency_key=idempotency_key,
            )
            return str(reply.get("status", "cancelled"))
        units = ", ".join(f"{ln.quantity} × {ln.sku}" for ln in cancel.lines)
        text = f"Cancelled ({cancel.reason or 'no reason given'}): {units}"
        return self.note(cancel.external_id, text, idempotency_key=idempotency_key)

    def return_update(self, ret: ReturnOpened | ReturnReceived, *, idempotency_key: str) -> str:
        """A note: WooCommerce core has no returns."""
        state = "received" if isinstance(ret, ReturnReceived) else "opened"
        units = ", ".join(f"{ln.quantity} × {ln.sku}" for ln in ret.lines)
        text = f"Return {ret.return_id} {state}: {units}"
        return self.note(ret.external_id, text, idempotency_key=idempotency_key)

    def update_stock(self, change: InventoryChanged, *, idempotency_key: str) -> int:
        """The product's stock_quantity; the quantity set (a SKU not sold there: untouched)."""
        document = stock_document(change, self.channel)
        path = self.product_path(change.sku)
        if path is not None:
            self.put(f"{API}/{path}", document, idempotency_key=idempotency_key)
        quantity: int = document["stock_quantity"]
        return quantity

    def product_path(self, sku: str) -> str | None:
        """products/{id} (or products/{parent}/variations/{id}) of the SKU; None if the
        site has no product with it."""
        if sku not in self._products:
            response = self._send("GET", f"{API}/products", params={"sku": sku})
            if response.status_code != 200:
                classify(self.system, response)  # raises the transient or permanent error
            found = _products(self.system, response.content)
            if not found:
                return None
            product = found[0]
            parent = product.get("parent_id") or 0
            self._products[sku] = (
                f"products/{parent}/variations/{product['id']}"
                if product.get("type") == "variation" and parent
                else f"products/{product['id']}"
            )
        return self._products[sku]


def _products(system: str, content: bytes) -> list[dict[str, Any]]:
    try:
        found = json.loads(content)
    except ValueError:
        raise PermanentError(system, "the product search reply is not JSON") from None
    if not isinstance(found, list) or not all(
        isinstance(p, dict) and isinstance(p.get("id"), int) for p in found
    ):
        raise PermanentError(system, "the product search reply is not a list of products")
    return found


def commands_of(body: bytes, topic: str = "order.updated") -> Sequence[ChannelCommand]:
    """The commands a body means (tests and tools: interpret without a request)."""
    return interpret(Receipt("-", topic), InboundRequest(body, {}), None)


KIND = ChannelKind(
    name=NAME,
    verification="hmac-sha256",
    normalize=normalize,
    client=WooCommerceClient,
    outbound=outbound_table(
        nothing(OrderAccepted, "WooCommerce has no acknowledgement"),
        on(OrderBackordered, WooCommerceClient.backordered),
        on(ShipmentDispatched, WooCommerceClient.shipped),
        on(RefundRecorded, WooCommerceClient.refunded),
        on(OrderCancelled, WooCommerceClient.cancelled),
        on(OrderAmended, WooCommerceClient.amended),
        on(ReturnOpened, WooCommerceClient.return_update),
        on(ReturnReceived, WooCommerceClient.return_update),
        on(OrderHeld, WooCommerceClient.held),
        on(OrderReleased, WooCommerceClient.released),
        on(InventoryChanged, WooCommerceClient.update_stock),
    ),
    webhook=WEBHOOK,
)
