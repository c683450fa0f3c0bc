"""Shopify's own documents as we read them: the Admin REST order, refund and fulfillment
(what its webhooks send and its API returns), and the Admin API replies the client reads
(fulfillment orders, variants by SKU), validated before anything is taken from them.

Only the fields ordersync uses are declared; Shopify sends many more, and they are ignored.
Types are Shopify's: ids are JSON integers of up to 64 bits (kept exact: the body is parsed
with ints as ints and decimals as Decimal, never through float), money is a decimal string
("19.90") with its `*_set` twin in the shop's and the customer's (presentment) currencies,
times are ISO 8601 with an offset. A document that does not match is a pydantic
ValidationError naming the field — parked, never half read.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from domain.commands import Timestamp

# Shopify's ids: positive 64-bit integers, as JSON numbers (strict: "12" or 1.0 is refused).
ShopifyId = Annotated[int, Field(strict=True, ge=1, le=2**63 - 1)]
# A decimal amount as Shopify writes it: a string, or a number read exactly; bounded, so no
# arithmetic on it can blow up (an exponent of a billion, NaN).
Decimalish = Annotated[Decimal, Field(allow_inf_nan=False, max_digits=24, decimal_places=12)]
CurrencyCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
Count = Annotated[int, Field(strict=True, ge=0, le=1_000_000)]
Name = Annotated[str, Field(max_length=1000)]
Label = Name | None
MAX_ITEMS = 1000  # of any list we read; an order has at most 500 lines (PlaceOrder)


class _Doc(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class MoneyAmount(_Doc):
    amount: Decimalish
    currency_code: CurrencyCode


class MoneySet(_Doc):
    """An amount in the shop's currency and in the customer's (presentment) currency."""

    shop_money: MoneyAmount
    presentment_money: MoneyAmount


class TaxLine(_Doc):
    price: Decimalish  # for the whole line, not per unit
    price_set: MoneySet | None = None
    rate: Annotated[Decimal, Field(ge=0, le=10, allow_inf_nan=False, max_digits=12)] | None = None
    title: Label = None


class DiscountAllocation(_Doc):
    amount: Decimalish  # for the whole line
    amount_set: MoneySet | None = None


class LineItem(_Doc):
    id: ShopifyId
    variant_id: ShopifyId | None = None
    product_id: ShopifyId | None = None
    sku: Label = None
    title: Label = None
    name: Label = None
    quantity: Count
    price: Decimalish  # per unit, before discounts
    price_set: MoneySet | None = None
    discount_allocations: Annotated[list[DiscountAllocation], Field(max_length=MAX_ITEMS)] = []
    tax_lines: Annotated[list[TaxLine], Field(max_length=MAX_ITEMS)] = []
    gift_card: bool = False


class ShippingLine(_Doc):
    title: Label = None
    code: Label = None
    price: Decimalish  # before its discounts
    price_set: MoneySet | None = None
    discount_allocations: Annotated[list[DiscountAllocation], Field(max_length=MAX_ITEMS)] = []
    tax_lines: Annotated[list[TaxLine], Field(max_length=MAX_ITEMS)] = []


class Address(_Doc):
    name: Label = None
    first_name: Label = None
    last_name: Label = None
    company: Label = None
    address1: Label = None
    address2: Label = None
    city: Label = None
    zip: Label = None
    province: Label = None
    province_code: Label = None
    country_code: Label = None
    phone: Label = None


class Customer(_Doc):
    id: ShopifyId | None = None
    email: Label = None
    first_name: Label = None
    last_name: Label = None
    phone: Label = None


class Order(_Doc):
    """An order (orders/create, orders/updated, orders/cancelled; GET orders.json)."""

    id: ShopifyId
    name: Label = None  # "#1001"
    order_number: Count | None = None
    email: Label = None
    contact_email: Label = None
    phone: Label = None
    created_at: Timestamp
    updated_at: Timestamp
    cancelled_at: Timestamp | None = None
    currency: CurrencyCode  # the shop's
    presentment_currency: CurrencyCode | None = None  # the customer's
    taxes_included: bool = False
    total_price: Decimalish
    total_price_set: MoneySet | None = None
    total_tax: Decimalish | None = None
    total_tax_set: MoneySet | None = None
    financial_status: Label = None
    # The order's total now (after refunds and edits) and what the buyer still owes of it,
    # in the shop's currency: what a partially paid order has paid is their difference.
    current_total_price: Decimalish | None = None
    total_outstanding: Decimalish | None = None
    payment_gateway_names: Annotated[list[Name], Field(max_length=50)] = []
    customer: Customer | None = None
    shipping_address: Address | None = None
    billing_address: Address | None = None
    line_items: Annotated[list[LineItem], Field(max_length=MAX_ITEMS)]
    shipping_lines: Annotated[list[ShippingLine], Field(max_length=MAX_ITEMS)] = []


class RefundLineItem(_Doc):
    line_item_id: ShopifyId
    line_item: LineItem | None = None
    quantity: Count
    # What Shopify gave back for these units: their subtotal (after discounts; with the
    # tax when the order's prices include it) and their tax.
    subtotal: Decimalish | None = None
    subtotal_set: MoneySet | None = None
    total_tax: Decimalish | None = None
    total_tax_set: MoneySet | None = None
    restock_type: Label = None  # no_restock, cancel, return, legacy_restock
    location_id: ShopifyId | None = None


class Transaction(_Doc):
    id: ShopifyId | None = None
    kind: Label = None  # refund, sale, capture, …
    status: Label = None  # success, failure, pending, error
    amount: Decimalish
    currency: CurrencyCode | None = None
    gateway: Label = None


class OrderAdjustment(_Doc):
    kind: Label = None  # shipping_refund, refund_discrepancy
    amount: Decimalish  # negative: money back
    amount_set: MoneySet | None = None
    tax_amount: Decimalish = Decimal(0)
    tax_amount_set: MoneySet | None = None


class RefundShippingLine(_Doc):
    subtotal_amount_set: MoneySet


class Refund(_Doc):
    """A refund (refunds/create)."""

    id: ShopifyId
    order_id: ShopifyId
    note: Label = None
    refund_line_items: Annotated[list[RefundLineItem], Field(max_length=MAX_ITEMS)] = []
    transactions: Annotated[list[Transaction], Field(max_length=MAX_ITEMS)] = []
    order_adjustments: Annotated[list[OrderAdjustment], Field(max_length=MAX_ITEMS)] = []
    refund_shipping_lines: Annotated[list[RefundShippingLine], Field(max_length=MAX_ITEMS)] = []


class Fulfillment(_Doc):
    """A fulfillment (fulfillments/create): its line items carry the quantities shipped."""

    id: ShopifyId
    order_id: ShopifyId
    name: Label = None  # "#1001.1"
    status: Label = None  # pending, open, success, cancelled, error, failure
    tracking_company: Label = None
    tracking_number: Label = None
    tracking_numbers: Annotated[list[Name], Field(max_length=50)] = []
    line_items: Annotated[list[LineItem], Field(max_length=MAX_ITEMS)]


# Replies of the Admin API that the client reads.


class Reply(BaseModel):
    """A reply of the Admin API (what the client reads of it)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class ListedTime(Reply):
    """Of a listed order, when Shopify last changed it."""

    updated_at: AwareDatetime


class OrderLines(Reply):
    line_items: list[LineItem]
    taxes_included: bool = False


class FulfillmentOrderLine(Reply):
    id: int
    line_item_id: int
    fulfillable_quantity: int


class FulfillmentOrder(Reply):
    """GET orders/{id}/fulfillment_orders.json: what of an order is left to fulfil."""

    id: int
    status: str
    line_items: list[FulfillmentOrderLine]


class FulfillmentOrders(Reply):
    fulfillment_orders: list[FulfillmentOrder]


class InventoryItemRef(Reply):
    id: str  # "gid://shopify/InventoryItem/123"


class Variant(Reply):
    sku: str | None = None
    inventory_item: InventoryItemRef | None = Field(default=None, alias="inventoryItem")


class Variants(Reply):
    nodes: list[Variant]


class VariantsData(Reply):
    product_variants: Variants = Field(alias="productVariants")


class VariantsReply(Reply):
    """The GraphQL productVariants query's reply (shopify_client.VARIANTS_BY_SKU)."""

    data: VariantsData | None = None
    errors: Any = None
