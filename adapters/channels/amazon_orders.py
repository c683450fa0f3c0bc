"""Amazon's Orders API v0 documents as ordersync reads them: getOrder's `payload` (an
Order), getOrderItems' `payload.OrderItems` (OrderItem), and the document the kind
normalizes, one order with every one of its items:

    {"external_id": AmazonOrderId, "order": getOrder's payload,
     "items": the OrderItems of every getOrderItems page, in Amazon's order}

Members are Amazon's own names; only those ordersync uses are read, the rest ignored.
Amounts are Money {CurrencyCode, Amount} with Amount a decimal string; a JSON number is
taken only where it is exact (the reader parses numbers as Decimal, never float).
Amazon sends some booleans as the strings "true" and "false" (IsGift,
IsBuyerRequestedCancel): both spellings are read.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from domain.commands import MAX_LINES, Country, ExternalId, Integral, OptText, Sku, Timestamp

# OrderStatus values: those with nothing to take yet, those that are an order to fulfil.
WAITING = frozenset({"Pending", "PendingAvailability", "Unfulfillable"})
LIVE = frozenset({"Unshipped", "PartiallyShipped", "Shipped", "InvoiceUnconfirmed"})
CANCELED = "Canceled"
CANCELLABLE = frozenset({"Unshipped", "PartiallyShipped"})  # nothing or some of it shipped
Status = Literal[
    "Pending",
    "PendingAvailability",
    "Unshipped",
    "PartiallyShipped",
    "Shipped",
    "InvoiceUnconfirmed",
    "Canceled",
    "Unfulfillable",
]
AFN, MFN = "AFN", "MFN"  # fulfilled by Amazon (FBA), by the merchant
AMOUNT_PATTERN = r"^[0-9]{1,15}(\.[0-9]{1,6})?$"


_AMOUNT_RE = re.compile(AMOUNT_PATTERN)


def _amount(value: Any) -> Decimal:
    # A JSON number arrives as a Decimal (or an int): read it as the text it was, so one
    # pattern checks both spellings ("1E+3" is refused); bools are not numbers here.
    if isinstance(value, Decimal | int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not _AMOUNT_RE.match(value.strip()):
        raise ValueError('must be a decimal amount such as "19.99"')
    return Decimal(value.strip())


DecimalAmount = Annotated[Decimal, BeforeValidator(_amount)]
Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Count = Annotated[int, Field(strict=True, ge=0, le=100_000), Integral]


class _Read(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class AmazonMoney(_Read):
    CurrencyCode: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
    Amount: DecimalAmount


class AmazonAddress(_Read):
    Name: OptText = None
    AddressLine1: OptText = None
    AddressLine2: OptText = None
    AddressLine3: OptText = None
    City: OptText = None
    County: OptText = None
    District: OptText = None
    Municipality: OptText = None
    StateOrRegion: OptText = None
    PostalCode: OptText = None
    CountryCode: Country | None = None
    Phone: OptText = None


class Buyer(_Read):
    BuyerEmail: OptText = None
    BuyerName: OptText = None
    PurchaseOrderNumber: OptText = None


class AmazonOrder(_Read):
    """getOrder's payload (also each of getOrders' Orders)."""

    AmazonOrderId: ExternalId
    PurchaseDate: Timestamp
    LastUpdateDate: Timestamp
    OrderStatus: Status
    FulfillmentChannel: Literal["AFN", "MFN"]
    MarketplaceId: Id
    OrderTotal: AmazonMoney | None = None
    ShippingAddress: AmazonAddress | None = None
    BuyerInfo: Buyer | None = None
    ShipmentServiceLevelCategory: OptText = None
    ShipServiceLevel: OptText = None
    PaymentMethod: OptText = None
    IsBusinessOrder: bool | None = None
    IsPrime: bool | None = None


class ItemBuyer(_Read):
    GiftWrapPrice: AmazonMoney | None = None
    GiftWrapTax: AmazonMoney | None = None


class CancelRequest(_Read):
    IsBuyerRequestedCancel: bool | None = None
    BuyerCancelReason: OptText = None


class AmazonItem(_Read):
    SellerSKU: Sku
    OrderItemId: Id
    ASIN: OptText = None
    QuantityOrdered: Count
    QuantityShipped: Count | None = None
    ItemPrice: AmazonMoney | None = None  # for the whole quantity
    ItemTax: AmazonMoney | None = None
    ShippingPrice: AmazonMoney | None = None
    ShippingTax: AmazonMoney | None = None
    ShippingDiscount: AmazonMoney | None = None
    ShippingDiscountTax: AmazonMoney | None = None
    PromotionDiscount: AmazonMoney | None = None
    PromotionDiscountTax: AmazonMoney | None = None
    IsGift: bool | None = None
    BuyerInfo: ItemBuyer | None = None
    BuyerRequestedCancel: CancelRequest | None = None

    @property
    def buyer_requested_cancel(self) -> bool:
        flag = self.BuyerRequestedCancel
        return bool(flag and flag.IsBuyerRequestedCancel)


class OrderDocument(_Read):
    """One order and all of its items: what the kind normalizes."""

    order: AmazonOrder
    items: Annotated[list[AmazonItem], Field(max_length=4 * MAX_LINES)] = []


def order_document(order: dict[str, Any], items: list[Any]) -> dict[str, Any]:
    """The document of one order as the client read it (still Amazon's JSON)."""
    return {"external_id": order.get("AmazonOrderId"), "order": order, "items": items}
