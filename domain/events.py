"""Domain events: one pydantic schema per event type, validated when the event is made."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field


class EventPayload(BaseModel):
    """The payload of one event type, named by its `event_type`; EVENT_TYPES at the end of
    this module lists every concrete subclass (a new event type is added there by hand)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_type: ClassVar[str]
    event_version: ClassVar[int] = 1
    aggregate_type: ClassVar[str]
    # State-like events (the latest supersedes older ones) name what they supersede.
    coalesce_prefix: ClassVar[str | None] = None

    def aggregate_id(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class DomainEvent:
    """A payload with what the outbox needs to know about its aggregate."""

    payload: EventPayload
    aggregate_version: int
    channel: str | None = None  # the sales channel the change came from, if any
    occurred_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def event_type(self) -> str:
        return self.payload.event_type

    @property
    def aggregate_type(self) -> str:
        return self.payload.aggregate_type

    @property
    def aggregate_id(self) -> str:
        return self.payload.aggregate_id()

    @property
    def coalesce_key(self) -> str | None:
        prefix = self.payload.coalesce_prefix
        return f"{prefix}:{self.aggregate_id}" if prefix else None


class MoneyLine(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    line_no: int
    sku: str
    quantity: int
    unit_price: str
    discount: str
    tax: str


class ReservationOut(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    line_no: int
    sku: str
    location: str
    quantity: int


class BackorderedLine(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    line_no: int
    sku: str
    quantity: int


class ShippedLineOut(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    line_no: int
    sku: str
    quantity: int


class LocationStock(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    location: str
    on_hand: int
    reserved: int
    atp: int


class AmountLine(BaseModel):
    """A line's part in a document: units and their exact share of the line's money."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    line_no: int
    sku: str
    quantity: int
    net: str  # unit price × quantity − the units' share of the discount
    discount: str
    tax: str


class InvoiceOut(BaseModel):
    """An invoice: its lines, and the shipping on the order's first (tax includes the
    shipping's tax; total = net + tax + shipping)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    invoice_id: str
    net: str
    tax: str
    shipping: str
    shipping_tax: str
    total: str
    lines: list[AmountLine]


class _OrderEvent(EventPayload):
    aggregate_type: ClassVar[str] = "order"
    order_id: str
    channel: str
    external_id: str
    status: str

    def aggregate_id(self) -> str:
        return self.order_id


class OrderAccepted(_OrderEvent):
    """A channel's order was accepted (whatever its allocation): the full canonical order."""

    event_type: ClassVar[str] = "order.accepted"
    placed_at: datetime
    currency: str
    customer: dict[str, Any]
    shipping_address: dict[str, Any]
    billing_address: dict[str, Any] | None
    shipping: dict[str, Any] | None
    payment: dict[str, Any] | None
    totals: dict[str, str]
    lines: list[MoneyLine]
    # The channel ships it from its own stock (Amazon FBA): the WMS never will. False in
    # events written before it was added (same event_version).
    fulfilled_by_channel: bool = False
    # A business customer's terms: purchase_order, company_account, payment_terms_days,
    # requested_delivery_date (null: none; absent from events written before they were).
    b2b: dict[str, Any] | None = None


class OrderAllocated(_OrderEvent):
    """Stock was reserved for an order: its complete current reservations, by location
    (none left, after a stock correction took them all: what was released is void)."""

    event_type: ClassVar[str] = "order.allocated"
    reservations: list[ReservationOut]
    # Where the goods go: a warehouse cannot release a fulfillment order without them.
    # Optional only for events written before they were added (same event_version).
    shipping_address: dict[str, Any] | None = None
    shipping: dict[str, Any] | None = None


class OrderBackordered(_OrderEvent):
    """Some quantity of an order could not be reserved anywhere: the backordered lines."""

    event_type: ClassVar[str] = "order.backordered"
    lines: list[BackorderedLine]


class ShipmentDispatched(_OrderEvent):
    """Goods left a location for an order: carrier, tracking number and the lines shipped."""

    event_type: ClassVar[str] = "shipment.dispatched"
    shipment_id: str
    location: str
    carrier: str
    tracking_number: str
    lines: list[ShippedLineOut]
    currency: str
    shipped_value: str  # the lines' value with tax and discounts: the invoice less shipping
    # The shipment's invoice (optional only for events written before it was added).
    invoice: InvoiceOut | None = None


class InventoryChanged(EventPayload):
    """The available-to-promise quantity of a SKU, or what a channel may sell of it, changed
    (state-like: the newest wins)."""

    event_type: ClassVar[str] = "inventory.changed"
    aggregate_type: ClassVar[str] = "sku"
    coalesce_prefix: ClassVar[str | None] = "atp"
    sku: str
    atp: int
    locations: list[LocationStock]
    # Channel → what it may sell: ATP less its safety stock, per location (domain/sellable.py),
    # for every channel active when the event was written. Empty in events written before.
    sellable: dict[str, int] = Field(default_factory=dict)

    def aggregate_id(self) -> str:
        return self.sku


# The lifecycle after acceptance (issue 12). Each is added to EVENT_TYPES by the change
# that gives it its handlers (an event type nobody takes fails the routing at start-up).


class OrderHeld(_OrderEvent):
    """The screen at acceptance put the order on hold: its stock is reserved, the WMS is
    sent nothing until it is released."""

    event_type: ClassVar[str] = "order.held"
    reasons: list[str]


class OrderReleased(_OrderEvent):
    """A held order was released (order.allocated follows for the WMS)."""

    event_type: ClassVar[str] = "order.released"
    released_by: str  # the caller, "kind:name"
    reason: str = ""


class OrderAmended(OrderAccepted):
    """Customer service changed the order before shipment: the whole order as it now is
    (lines at their live quantities with their share of discount and tax, totals again)."""

    event_type: ClassVar[str] = "order.amended"
    reason: str


class OrderCancelled(_OrderEvent):
    """The whole order (`whole`: nothing of it shipped, nothing is left) or some unshipped
    quantity of it was cancelled: the quantities cancelled now, with their money, and the
    order's totals after it (a part cancelled: recomputed from what is left; the whole:
    as they were, for the record)."""

    event_type: ClassVar[str] = "order.cancelled"
    whole: bool
    reason: str
    currency: str
    lines: list[AmountLine]
    totals: dict[str, str]


class PaymentRecorded(_OrderEvent):
    """An authorization, capture or void from the payment platform or the channel, with
    the order's totals after it."""

    event_type: ClassVar[str] = "payment.recorded"
    payment_id: str
    kind: str  # authorization, capture, void
    transaction_id: str
    amount: str
    currency: str
    shipment_id: str | None
    authorized: str
    captured: str


class RefundRecorded(_OrderEvent):
    """Money given back: the credit memo's content (net, tax and shipping split exactly)."""

    event_type: ClassVar[str] = "refund.recorded"
    refund_id: str
    transaction_id: str
    kind: str  # return, partial, shipping, goodwill
    return_id: str | None
    reason: str
    currency: str
    amount: str
    net: str
    tax: str  # the shipping's tax included
    shipping: str
    shipping_tax: str
    lines: list[AmountLine]


class ReturnLineOut(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    line_no: int
    sku: str
    quantity: int
    disposition: str | None = None  # restock or damaged, once received


class ReturnOpened(_OrderEvent):
    """The customer is sending shipped goods back: the WMS expects them."""

    event_type: ClassVar[str] = "return.opened"
    return_id: str
    reason: str
    lines: list[ReturnLineOut]


class ReturnReceived(_OrderEvent):
    """The WMS received a return, with a disposition per line (restock: back on hand)."""

    event_type: ClassVar[str] = "return.received"
    return_id: str
    location: str
    lines: list[ReturnLineOut]


class CustomerUpdated(EventPayload):
    """A customer (one per normalized e-mail, across channels) was created or changed."""

    event_type: ClassVar[str] = "customer.updated"
    aggregate_type: ClassVar[str] = "customer"
    customer_id: str
    email: str
    name: str
    phone: str | None
    address: dict[str, Any] | None
    channel: str  # the channel whose order brought the change

    def aggregate_id(self) -> str:
        return self.customer_id


EVENT_TYPES: dict[str, type[EventPayload]] = {
    cls.event_type: cls
    for cls in (
        OrderAccepted,
        OrderAllocated,
        OrderBackordered,
        ShipmentDispatched,
        InventoryChanged,
        PaymentRecorded,
        RefundRecorded,
        OrderAmended,
        OrderCancelled,
        ReturnOpened,
        ReturnReceived,
        OrderHeld,
        OrderReleased,
        CustomerUpdated,
    )
}
