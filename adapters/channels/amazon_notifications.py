"""Amazon's side of the door: an SP-API ORDER_CHANGE notification as an EventBridge API
destination posts it, and how the channel's API key authenticates it.

SP-API never calls a seller directly: it publishes notifications to the seller's Amazon
SQS queue or EventBridge bus. An EventBridge rule whose target is an *API destination*
(its connection sending `Authorization: Bearer <the channel's API key>`) posts the
EventBridge event to `POST /v1/webhooks/amazon`, the notification inside `detail`:

    {"version": "0", "id": "…", "detail-type": "ORDER_CHANGE",
     "source": "aws.partner/sellingpartnerapi.amazon.com/…", "account": "…",
     "time": "…", "region": "us-east-1", "resources": [],
     "detail": {"NotificationVersion": "1.0", "NotificationType": "ORDER_CHANGE",
                "PayloadVersion": "1.0", "EventTime": "…",
                "Payload": {"OrderChangeNotification": {…}},
                "NotificationMetadata": {"NotificationId": "…", …}}}

A forwarder from an SQS queue (whose message body is the bare notification) may post the
notification itself: it is read the same way. The delivery identity is the
notification's NotificationId (an EventBridge retry keeps it; so does SQS's redelivery).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from adapters import apikeys
from adapters.channels.webhook import Credentials, InboundRequest, InvalidDelivery, Receipt
from adapters.http.jsonutil import loads
from adapters.systems.paging import schema_errors
from domain.commands import ExternalId, OptText

ORDER_CHANGE = "ORDER_CHANGE"
BUYER_REQUESTED_CHANGE = "BuyerRequestedChange"
VERIFIED = "api-key"
VERIFIED_PREVIOUS = "api-key (previous key)"


class _Read(BaseModel):
    """Amazon's own documents: their members as Amazon spells them, the rest ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class Metadata(_Read):
    NotificationId: Annotated[str, Field(min_length=1, max_length=255)]
    ApplicationId: OptText = None
    SubscriptionId: OptText = None
    PublishTime: OptText = None


class _Envelope(_Read):
    """Just enough of a notification to file it: its type and identity."""

    NotificationType: Annotated[str, Field(min_length=1, max_length=64)]
    NotificationMetadata: Metadata


class ChangeTrigger(_Read):
    TimeOfOrderChange: OptText = None
    ChangeReason: OptText = None


class SummaryItem(_Read):
    OrderItemId: OptText = None
    SellerSKU: OptText = None
    IsBuyerRequestedCancel: bool | None = None


class ChangeSummary(_Read):
    MarketplaceId: OptText = None
    OrderStatus: OptText = None
    FulfillmentType: OptText = None  # AFN (fulfilled by Amazon) or MFN (by the seller)
    OrderItems: Annotated[list[SummaryItem], Field(max_length=1000)] = []


class OrderChangeDetail(_Read):
    AmazonOrderId: ExternalId
    NotificationLevel: OptText = None
    SellerId: OptText = None
    OrderChangeType: OptText = None  # OrderStatusChange or BuyerRequestedChange
    OrderChangeTrigger: ChangeTrigger | None = None
    Summary: ChangeSummary | None = None

    @property
    def buyer_requested_cancel(self) -> bool:
        """The buyer asked to cancel (today the only BuyerRequestedChange there is)."""
        summary = self.Summary.OrderItems if self.Summary else []
        return self.OrderChangeType == BUYER_REQUESTED_CHANGE or any(
            item.IsBuyerRequestedCancel for item in summary
        )

    @property
    def change_reason(self) -> str:
        trigger = self.OrderChangeTrigger
        return (trigger.ChangeReason or "") if trigger else ""


class _OrderChangePayload(_Read):
    OrderChangeNotification: OrderChangeDetail


class OrderChange(_Envelope):
    """An ORDER_CHANGE notification, whole: what `interpret` reads."""

    NotificationVersion: OptText = None
    PayloadVersion: OptText = None
    EventTime: OptText = None
    Payload: _OrderChangePayload


def _notification(body: bytes) -> Any:
    """The notification object in the body: EventBridge's `detail`, or the body itself."""
    try:
        document = loads(body)
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
        raise InvalidDelivery(f"the body is not JSON: {type(error).__name__}") from None
    if not isinstance(document, dict):
        raise InvalidDelivery("the body is not a JSON object")
    if "detail" in document:
        detail = document["detail"]
        if not isinstance(detail, dict):
            raise InvalidDelivery("the EventBridge event's detail is not an object")
        return detail
    return document


def receipt(request: InboundRequest) -> Receipt:
    """The delivery's identity (NotificationId) and topic (NotificationType): only an
    ORDER_CHANGE is taken, anything else is InvalidDelivery."""
    try:
        envelope = _Envelope.model_validate(_notification(request.body))
    except ValidationError as error:
        raise InvalidDelivery(f"not an SP-API notification: {schema_errors(error)}") from None
    if envelope.NotificationType != ORDER_CHANGE:
        raise InvalidDelivery(
            f"notification type {envelope.NotificationType!r}: the amazon door takes "
            f"{ORDER_CHANGE} only (subscribe the destination to nothing else)"
        )
    return Receipt(envelope.NotificationMetadata.NotificationId, envelope.NotificationType)


def order_change(request: InboundRequest) -> OrderChangeDetail:
    """The ORDER_CHANGE of a delivery, whole; InvalidDelivery naming what is wrong."""
    receipt(request)
    try:
        change = OrderChange.model_validate(_notification(request.body))
    except ValidationError as error:
        raise InvalidDelivery(f"a malformed ORDER_CHANGE: {schema_errors(error)}") from None
    return change.Payload.OrderChangeNotification


def verify(request: InboundRequest, credentials: Credentials) -> str | None:
    """The channel's API key as a bearer token (an API destination's connection sends it):
    "api-key", "api-key (previous key)" within a rotation's grace period, or None.

    Every digest is compared (in constant time each), so the time taken does not say
    which key, if any, matched."""
    given = request.header("Authorization") or ""
    scheme, _, key = given.strip().partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        return None
    matched = [apikeys.matches(key, digest) for digest in credentials.key_digests]
    if matched and matched[0]:
        return VERIFIED
    if any(matched[1:]):
        return VERIFIED_PREVIOUS
    return None
