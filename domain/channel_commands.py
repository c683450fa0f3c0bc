"""What a channel's own delivery means, in canonical terms: the commands a channel kind's
normalizer makes of a webhook, a fetched order or a POS sale, whatever the channel's format.

Every channel kind (adapters/channels/<kind>.py) turns its payloads into these; one
service (domain/channel_sync.py) applies them, so dedup, versions, SKU mapping and the
lifecycle's services are written once. SKUs here are the channel's own: the service maps
them to ours (`ordersync sku map`) before anything is looked up.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, model_validator

from domain.commands import (
    Amount,
    Carrier,
    Code,
    Country,
    CurrencyCode,
    Email,
    ExternalId,
    Input,
    LineNo,
    OptText,
    PlaceOrder,
    Quantity,
    Reason,
    Sku,
    Text,
    Timestamp,
    TrackingNumber,
)


class ChannelOrder(Input):
    """An order as the channel has it now, at its business version.

    Applied once per version: an order not seen before is created in this state (an
    update that arrives before its create makes the order as the update says); a newer
    version of a known order changes it (a lower quantity, a new address, a
    cancellation); an older or equal version changes nothing (domain/channel_sync.py
    says what a tie is).
    """

    kind: Literal["order"] = "order"
    order: PlaceOrder
    # The channel's clock of the order (Shopify/WooCommerce updated_at, Amazon
    # LastUpdateDate) and a tie-breaker within one tick of it (Square's version; 0 where
    # the channel has none).
    version_at: AwareDatetime
    version_no: Annotated[int, Field(ge=0)] = 0
    cancelled: bool = False
    # False: the channel fulfils it from its own stock (Amazon FBA): no reservation here.
    reserve_stock: bool = True
    # What the channel says it has captured of the order by this version, where its
    # payment status alone does not say (Shopify partially_paid); None: the status says
    # (paid: all of it; domain/channel_payments.py).
    captured: Amount | None = None


class ChannelRefundLine(Input):
    line_no: LineNo
    quantity: Quantity
    restock_location: Code | None = None  # None: not restocked
    # What the channel gave back for these units: their net (after discount, without tax)
    # and their tax, both or neither (None: the channel does not say, and the units' own
    # shares of the line are refunded). The buyer got these, to the cent, so the credit
    # memo carries them rather than shares ordersync rounds itself.
    net: Amount | None = None
    tax: Amount | None = None

    @model_validator(mode="after")
    def _both_or_neither(self) -> ChannelRefundLine:
        if (self.net is None) != (self.tax is None):
            raise ValueError("net and tax: a refund line states both or neither")
        return self


class ChannelRefund(Input):
    """Money the channel gave back on an order (Shopify refunds/create), with the units it
    refunded and which of them it restocked where."""

    kind: Literal["refund"] = "refund"
    external_id: ExternalId  # the channel's order
    transaction_id: Text  # the channel's refund id: once per id
    amount: Amount
    shipping: Amount = Decimal(0)  # of `amount`, what was shipping
    lines: Annotated[list[ChannelRefundLine], Field(max_length=500)] = []
    reason: Reason = ""


class ChannelShipmentLine(Input):
    sku: Sku  # the channel's SKU
    quantity: Quantity


class ChannelShipment(Input):
    """The channel says part of an order shipped (Shopify fulfillments/create)."""

    kind: Literal["shipment"] = "shipment"
    external_id: ExternalId
    shipment_ref: Text  # the channel's fulfillment id: once per id
    location: Code | None = None  # None: where the order's reservations are
    carrier: Carrier
    tracking_number: TrackingNumber
    lines: Annotated[list[ChannelShipmentLine], Field(min_length=1, max_length=500)]


class ChannelCancelRequest(Input):
    """The buyer asked the channel to cancel (Amazon's BuyerCancellationRequest): the cancel
    path, as far as nothing has shipped."""

    kind: Literal["cancel"] = "cancel"
    external_id: ExternalId
    reason: Reason = ""


class PosSaleLine(Input):
    sku: Sku
    quantity: Quantity
    unit_price: Amount
    discount: Amount = Decimal(0)  # for the whole line, as on canonical orders
    tax: Amount = Decimal(0)


class PosSale(Input):
    """A completed in-store sale: paid and handed over at the till (domain/pos_sales.py)."""

    kind: Literal["pos_sale"] = "pos_sale"
    sale_id: ExternalId  # the till's receipt: the order's external id, once per channel
    location: Code  # the store (a registered location)
    sold_at: Timestamp
    currency: CurrencyCode
    lines: Annotated[list[PosSaleLine], Field(min_length=1, max_length=500)]
    payment_method: Text = "card"
    customer_email: Email | None = None  # None: the store's walk-in customer
    customer_name: OptText = None
    country: Country | None = None  # the store's (None: "ZZ", ISO 3166's unknown)
    # What the till charged: checked against the lines when given (a mismatch is refused).
    total: Amount | None = None


ChannelCommand = ChannelOrder | ChannelRefund | ChannelShipment | ChannelCancelRequest | PosSale
