"""A Square order (the RetrieveOrder shape) → the canonical command it means.

Square's webhooks carry only an order's id and version: the kind fetches the order
(adapters/channels/square_client.py) and this module reads it. Money is in integer minor
units of the order's one currency; each becomes an exact Decimal by the currency's
exponent (domain/currency.py: JPY 0, USD 2…), never through float.

- The channel SKU of a line is its variation's SKU in the seller's Square catalog
  (`item_variation_data.sku`, fetched with the order), else its `catalog_object_id` (a
  variation without a SKU, or deleted since); a line with neither is named by its
  `item_type` (`GIFT_CARD`, `CUSTOM_AMOUNT`). The core maps each to ours
  (`ordersync sku map`); an unmapped one parks the delivery until it is mapped.
- A line's money in canonical terms (prices before tax, discount and tax for the whole
  line): with additive taxes, unit price = base price, discount and tax as Square
  totals them. Square's INCLUSIVE taxes are inside the price: the unit price is then the
  price less its inclusive tax, rounded up to a whole minor unit, and the line's
  discount takes the few minor units of that rounding besides its own, so that unit
  price × quantity − discount + tax is exactly the line's total_money.
- Service charges (net, and their tax) and the tip are the order's one charge beyond its
  lines: the canonical `shipping` block. The grand total is Square's total_money.
- Which command: an order with no fulfillment, COMPLETED, is a sale at the counter —
  paid and handed over (a PosSale at the channel's store, domain/pos_sales.py; its tip
  and service charges are not carried). Every other order is a ChannelOrder at its
  business version: version_at = updated_at, version_no = Square's `version` (which
  counts every committed change: it breaks ties within one updated_at), cancelled when
  CANCELED. A DRAFT is not an order yet: nothing.
- The customer: the fulfillment's recipient (name, e-mail, phone); without an e-mail the
  Square customer id (or the location's walk-in) names one under .invalid. The address:
  a SHIPMENT's recipient's; a pickup's is the location, country unknown (ZZ).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

from adapters.channels.webhook import InvalidDelivery
from domain.channel_commands import ChannelCommand, ChannelOrder, PosSale
from domain.commands import PlaceOrder
from domain.currency import EXPONENTS

UNKNOWN_COUNTRY = "ZZ"
ItemType = Literal["ITEM", "CUSTOM_AMOUNT", "GIFT_CARD"]


class _Square(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Money(_Square):
    amount: StrictInt  # minor units: an int, never a float
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]


class AppliedTax(_Square):
    tax_uid: str
    applied_money: Money | None = None


class Tax(_Square):
    uid: str
    type: str = "ADDITIVE"  # ADDITIVE | INCLUSIVE | UNKNOWN_TAX


class LineItem(_Square):
    uid: str | None = None
    name: str | None = None
    quantity: str  # a decimal string ("2", "1.5" for a weighed item)
    item_type: ItemType = "ITEM"
    catalog_object_id: str | None = None
    variation_name: str | None = None
    base_price_money: Money | None = None
    gross_sales_money: Money | None = None
    total_tax_money: Money | None = None
    total_discount_money: Money | None = None
    total_money: Money
    applied_taxes: list[AppliedTax] = []

    @field_validator("quantity")
    @classmethod
    def _whole(cls, value: str) -> str:
        # A weighed quantity ("0.750" kg) has no canonical form: our lines count units.
        if not value.isascii() or not value.isdigit() or int(value) == 0:
            raise ValueError("must be a whole number of units, at least 1")
        return value


class Address(_Square):
    address_line_1: str | None = None
    address_line_2: str | None = None
    locality: str | None = None
    administrative_district_level_1: str | None = None
    postal_code: str | None = None
    country: str | None = None


class Recipient(_Square):
    display_name: str | None = None
    email_address: str | None = None
    phone_number: str | None = None
    address: Address | None = None


class Details(_Square):
    recipient: Recipient | None = None


class Fulfillment(_Square):
    type: str  # SHIPMENT | PICKUP | DELIVERY
    state: str | None = None
    shipment_details: Details | None = None
    pickup_details: Details | None = None
    delivery_details: Details | None = None

    @property
    def recipient(self) -> Recipient | None:
        for details in (self.shipment_details, self.delivery_details, self.pickup_details):
            if details is not None and details.recipient is not None:
                return details.recipient
        return None


class ServiceCharge(_Square):
    name: str | None = None
    total_money: Money | None = None
    total_tax_money: Money | None = None


class Tender(_Square):
    type: str | None = None
    amount_money: Money | None = None


class SquareOrder(_Square):
    id: str
    location_id: str
    reference_id: str | None = None
    customer_id: str | None = None
    state: Literal["OPEN", "COMPLETED", "CANCELED", "DRAFT"]
    version: Annotated[int, Field(strict=True, ge=0)] | None = None  # none: not made by the API
    created_at: str
    updated_at: str
    closed_at: str | None = None
    line_items: Annotated[list[LineItem], Field(min_length=1)]
    taxes: list[Tax] = []
    fulfillments: list[Fulfillment] = []
    service_charges: list[ServiceCharge] = []
    tenders: list[Tender] = []
    total_money: Money
    total_tip_money: Money | None = None


class RetrievedOrder(_Square):
    """RetrieveOrder's response: GET /v2/orders/{order_id} → {"order": {…}}."""

    order: SquareOrder


def _amount(money: Money | None, currency: str) -> int:
    if money is None:
        return 0
    if money.currency != currency:
        raise InvalidDelivery(f"an amount in {money.currency} on an order in {currency}")
    return money.amount


def _decimal(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-EXPONENTS[currency])


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _line(
    number: int, item: LineItem, inclusive: set[str], skus: Mapping[str, str], currency: str
) -> dict[str, Any]:
    """One line in canonical terms (see the module's docstring), exactly its total."""
    quantity = int(item.quantity)
    base = _amount(item.base_price_money, currency)
    gross = _amount(item.gross_sales_money, currency) if item.gross_sales_money else base * quantity
    discount = _amount(item.total_discount_money, currency)
    tax = _amount(item.total_tax_money, currency)
    total = _amount(item.total_money, currency)
    included = sum(
        _amount(t.applied_money, currency) for t in item.applied_taxes if t.tax_uid in inclusive
    )
    net = gross - included - discount  # after discounts, before any tax
    if min(gross, discount, tax, included, net) < 0 or total != net + tax:
        raise InvalidDelivery(
            f"line_items[{number}]: gross {gross} − discount {discount} + additive tax"
            f" {tax - included} is not its total_money {total}"
        )
    unit = _ceil_div(gross - included, quantity)
    sku = skus.get(item.catalog_object_id or "") or item.catalog_object_id or item.item_type
    return {
        "sku": sku,
        "quantity": quantity,
        "unit_price": _decimal(unit, currency),
        "discount": _decimal(unit * quantity - net, currency),
        "tax": _decimal(tax, currency),
    }


def _customer(order: SquareOrder, recipient: Recipient | None) -> dict[str, Any]:
    given = recipient.email_address if recipient else None
    if given:
        email = given
    elif order.customer_id:
        email = f"{order.customer_id.lower()}@customers.square.invalid"
    else:
        email = f"walk-in@{order.location_id.lower()}.square.invalid"
    name = (recipient.display_name if recipient else None) or "Square customer"
    return {"email": email, "name": name, "phone": recipient.phone_number if recipient else None}


def _address(order: SquareOrder, recipient: Recipient | None) -> dict[str, Any]:
    name = (recipient.display_name if recipient else None) or "Square customer"
    where = recipient.address if recipient else None
    if where is None or not where.address_line_1 or not where.locality:
        return {
            "name": name,
            "line1": f"Square location {order.location_id}",
            "city": order.location_id,
            "country": UNKNOWN_COUNTRY,
        }
    return {
        "name": name,
        "line1": where.address_line_1,
        "line2": where.address_line_2,
        "city": where.locality,
        "postal_code": where.postal_code,
        "region": where.administrative_district_level_1,
        "country": where.country or UNKNOWN_COUNTRY,
    }


def _charges(order: SquareOrder, currency: str) -> tuple[int, int]:
    """Service charges (net) plus the tip, and the service charges' tax."""
    tax = sum(_amount(c.total_tax_money, currency) for c in order.service_charges)
    gross = sum(_amount(c.total_money, currency) for c in order.service_charges)
    return gross - tax + _amount(order.total_tip_money, currency), tax


def _order(order: SquareOrder, lines: list[dict[str, Any]], currency: str) -> PlaceOrder:
    fulfillment = order.fulfillments[0] if order.fulfillments else None
    recipient = fulfillment.recipient if fulfillment else None
    total = _amount(order.total_money, currency)
    charged, charged_tax = _charges(order, currency)
    lines_total = sum(_amount(i.total_money, currency) for i in order.line_items)
    if lines_total + charged + charged_tax != total:
        raise InvalidDelivery(
            f"the lines ({lines_total}), service charges and tip ({charged + charged_tax})"
            f" do not add up to total_money ({total})"
        )
    tendered = sum(_amount(t.amount_money, currency) for t in order.tenders)
    paid = order.state == "COMPLETED" or (bool(order.tenders) and tendered >= total)
    method = (order.tenders[0].type or "card").lower() if order.tenders else "square"
    document: dict[str, Any] = {
        "external_id": order.id,
        "placed_at": order.created_at,
        "currency": currency,
        "customer": _customer(order, recipient),
        "shipping_address": _address(order, recipient),
        "lines": lines,
        "payment": {
            "method": method,
            "status": "paid" if paid else "pending",
            "amount": _decimal(total, currency),
        },
        "totals": {"grand_total": _decimal(total, currency)},
    }
    if charged or charged_tax:
        document["shipping"] = {
            "method": fulfillment.type.lower() if fulfillment else "service charge",
            "amount": _decimal(charged, currency),
            "tax": _decimal(charged_tax, currency),
        }
    return PlaceOrder.model_validate(document)


def _sale(
    order: SquareOrder, lines: list[dict[str, Any]], currency: str, store: str | None
) -> PosSale:
    method = (order.tenders[0].type or "card").lower() if order.tenders else "card"
    total = sum(_amount(i.total_money, currency) for i in order.line_items)
    return PosSale.model_validate(
        {
            "sale_id": order.id,
            "location": store or order.location_id,
            "sold_at": order.closed_at or order.updated_at,
            "currency": currency,
            "lines": lines,
            "payment_method": method,
            "total": _decimal(total, currency),
        }
    )


def catalog_ids(document: object) -> list[str]:
    """The catalog object ids of a RetrieveOrder response's lines (a ValidationError if it
    is not one)."""
    order = RetrievedOrder.model_validate(document).order
    return sorted({i.catalog_object_id for i in order.line_items if i.catalog_object_id})


def commands_of(
    document: object, skus: Mapping[str, str] | None = None, *, store: str | None = None
) -> Sequence[ChannelCommand]:
    """The commands a RetrieveOrder response means (`skus`: catalog object id → the
    variation's SKU; `store`: our location of the channel's Square location, for counter
    sales). A ValidationError or InvalidDelivery if it cannot be read."""
    order = RetrievedOrder.model_validate(document).order
    if order.state == "DRAFT":
        return []
    currency = order.total_money.currency
    if currency not in EXPONENTS:
        raise InvalidDelivery(f"unsupported currency {currency}")
    inclusive = {t.uid for t in order.taxes if t.type == "INCLUSIVE"}
    lines = [
        _line(n, item, inclusive, skus or {}, currency) for n, item in enumerate(order.line_items)
    ]
    if order.state == "COMPLETED" and not order.fulfillments:
        return [_sale(order, lines, currency, store)]
    return [
        ChannelOrder.model_validate(
            {
                "order": _order(order, lines, currency),
                "version_at": order.updated_at,
                "version_no": order.version or 0,
                "cancelled": order.state == "CANCELED",
            }
        )
    ]
