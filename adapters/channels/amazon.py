"""The Amazon channel kind, both directions.

Inbound (`POST /v1/webhooks/amazon`): SP-API ORDER_CHANGE notifications, as an
EventBridge API destination posts them, authenticated by the channel's API key as a
bearer token (amazon_notifications.py). There is no identifying header: the door tries
the key of every amazon channel. The delivery is the NotificationId. A notification is
only a summary, so `interpret` reads the order itself (getOrder and every getOrderItems
page) from the channel's --api-url and normalizes that (amazon_normalize.py): the order
at version LastUpdateDate, FBA orders without a reservation of our stock, a buyer's
cancellation request as the cancel path.

The poll (`ordersync reconcile --channel`): getOrders (LastUpdatedAfter the watermark),
each order with its items, applied as a notification's order is (order_commands, at its
LastUpdateDate), so that nothing depends on notifications alone (amazon_client.py).

Outbound: confirmShipment and patchListingsItem (amazon_client.py, amazon_documents.py);
the other events send nothing, each saying why in the KIND's table (`nothing`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from adapters.channels.amazon_client import AmazonClient
from adapters.channels.amazon_normalize import normalize, order_commands
from adapters.channels.amazon_notifications import order_change, receipt, verify
from adapters.channels.kind import ChannelKind
from adapters.channels.outbound import nothing, outbound_table
from adapters.channels.webhook import InboundRequest, InvalidDelivery, Receipt, Webhook
from adapters.systems.errors import PermanentError
from adapters.systems.handlers import Handler, on
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
from outbox.envelope import Envelope


def identify(request: InboundRequest) -> str | None:
    """None: an EventBridge event names no shop; the key says which channel it is."""
    return None


def interpret(receipt: Receipt, request: InboundRequest, client: Any) -> tuple[ChannelCommand, ...]:
    """The order behind an ORDER_CHANGE, read from Amazon, as canonical commands.

    Amazon refusing the read (the order unknown, the token refused) parks the delivery
    (InvalidDelivery, replayable once fixed); Amazon unavailable or throttling
    (TransientError) is left to the caller to retry later."""
    change = order_change(request)
    if client is None:
        raise InvalidDelivery(
            "the channel has no --api-url: the order behind an ORDER_CHANGE cannot be read"
        )
    try:
        document = client.order_document(change.AmazonOrderId)
    except PermanentError as error:
        raise InvalidDelivery(f"reading order {change.AmazonOrderId}: {error}") from None
    if document.get("external_id") != change.AmazonOrderId:
        raise InvalidDelivery(f"getOrder answered for another order than {change.AmazonOrderId}")
    return order_commands(
        document, buyer_cancel=change.buyer_requested_cancel, reason=change.change_reason
    )


@dataclass(frozen=True, slots=True)
class _DispatchedAt(Handler[AmazonClient]):
    """confirmShipment needs the ship date, which a shipment.dispatched payload lacks: the
    event's own time is it (when ordersync recorded the dispatch), the same on every
    retry and replay, so a retry is the same request under the same Idempotency-Key."""

    def __call__(self, client: AmazonClient, envelope: Envelope) -> object:
        shipment = ShipmentDispatched.model_validate(envelope.payload)
        return client.shipped(
            shipment, idempotency_key=envelope.idempotency_key(), shipped_at=envelope.occurred_at
        )


KIND = ChannelKind(
    name="amazon",
    verification="api-key",
    normalize=normalize,
    client=AmazonClient,
    outbound=outbound_table(
        # SP-API's order and listing APIs have no call for the others; the channel's own
        # view of the order moves with confirmShipment and with what Amazon does itself.
        nothing(
            OrderAccepted,
            "an Amazon order needs no acknowledgement (Amazon's order acknowledgement is a "
            "feed for a few programmes, not an Orders API call)",
        ),
        nothing(
            OrderBackordered,
            "Amazon has no backordered state; the buyer keeps the promised ship date",
        ),
        _DispatchedAt(ShipmentDispatched, AmazonClient.shipped),
        nothing(
            RefundRecorded,
            "Amazon refunds the buyer itself (Seller Central, a payment-adjustment feed, or "
            "A-to-z): the Orders API has no refund call",
        ),
        nothing(
            OrderCancelled,
            "a seller cancels an Amazon order with an order-acknowledgement feed (Feeds "
            "API), not an Orders API call",
        ),
        nothing(OrderAmended, "a seller cannot change an Amazon order's lines or address"),
        nothing(ReturnOpened, "Amazon runs an Amazon order's returns"),
        nothing(ReturnReceived, "Amazon runs an Amazon order's returns"),
        nothing(OrderHeld, "a hold is ordersync's own business"),
        nothing(OrderReleased, "a hold is ordersync's own business"),
        on(InventoryChanged, AmazonClient.update_stock),
    ),
    list_orders=AmazonClient.orders_since,
    listed_commands=order_commands,
    webhook=Webhook(identify=identify, verify=verify, receipt=receipt, interpret=interpret),
)
