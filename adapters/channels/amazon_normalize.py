"""An Amazon order (getOrder + every getOrderItems page) → the canonical commands.

What each OrderStatus means here:
- Pending, PendingAvailability, Unfulfillable: nothing (an empty tuple, which the core
  marks ignored). A Pending order has no committed price, address or payment yet; the
  notification of its move to Unshipped brings it, in its state then.
- Unshipped, PartiallyShipped, Shipped, InvoiceUnconfirmed: a ChannelOrder at version
  LastUpdateDate, and a ChannelCancelRequest after it while nothing or only part has
  shipped and the buyer asked to cancel (ORDER_CHANGE's BuyerRequestedChange, or an
  item's BuyerRequestedCancel).
- Canceled: the ChannelOrder, cancelled; a cancelled order whose items Amazon no longer
  prices (their quantities 0) is only a ChannelCancelRequest for the order ordersync has.

FBA (FulfillmentChannel AFN): Amazon ships from its own stock, so `reserve_stock` is
False; merchant-fulfilled (MFN) orders reserve ours.

Money, exact, in the order's currency (Money's minor units, integers only): see
amazon_marketplaces.py for what ItemPrice includes. A line's net price is ItemPrice
(less ItemTax where prices include tax); canonical lines carry a unit price, so the
unit price is the net price ÷ quantity rounded up to the currency's unit, and the
remainder (less than one minor unit per item) is added to the line's discount — the
line's net total stays exactly Amazon's. PromotionDiscount (net of its
PromotionDiscountTax where prices include tax) is the line's discount; its tax is ItemTax
− PromotionDiscountTax. Shipping is every item's ShippingPrice − ShippingDiscount plus
its gift wrap (GiftWrapPrice), with their taxes likewise. The grand total must be
OrderTotal to the minor unit, or the order is refused, saying both figures.

The buyer: BuyerInfo's name and email, which Amazon gives only to applications with
the restricted-data role; without them the order still comes in, named "Amazon buyer"
with an address under `.invalid` that can never be mailed. A merchant-fulfilled order
must have its street and city (we ship it); for FBA and cancelled orders a withheld
street reads "(withheld by Amazon)".

Every refusal is a pydantic ValidationError naming the member, never quoting it.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from adapters.channels.amazon_marketplaces import MARKETPLACES, Marketplace
from adapters.channels.amazon_orders import (
    AFN,
    CANCELED,
    CANCELLABLE,
    MFN,
    WAITING,
    AmazonAddress,
    AmazonItem,
    AmazonMoney,
    AmazonOrder,
    OrderDocument,
)
from domain.channel_commands import ChannelCancelRequest, ChannelCommand, ChannelOrder
from domain.commands import PlaceOrder
from domain.currency import EXPONENTS

WITHHELD = "(withheld by Amazon)"
BUYER = "Amazon buyer"
SHIP = "Standard"  # the service level of an order that names none
PAYMENT_METHOD = "amazon"
CANCELLED_ON_AMAZON = "cancelled on Amazon"
BUYER_ASKED = "the buyer asked Amazon to cancel"


def refused(where: str, message: str) -> ValidationError:
    """A ValidationError as pydantic's own, at `where` (dotted)."""
    detail: InitErrorDetails = {
        "type": PydanticCustomError("amazon_order", message),
        "loc": tuple(where.split(".")),
        "input": None,
    }
    return ValidationError.from_exception_data("AmazonOrder", [detail])


class _Minor:
    """Amounts of one currency as integers of its minor unit (exact, or refused)."""

    def __init__(self, currency: str) -> None:
        self.currency, self.exponent = currency, EXPONENTS[currency]

    def __call__(self, money: AmazonMoney | None, where: str) -> int:
        if money is None:
            return 0
        if money.CurrencyCode != self.currency:
            raise refused(where, f"is in {money.CurrencyCode}, the order in {self.currency}")
        scaled = money.Amount.scaleb(self.exponent)
        if scaled != scaled.to_integral_value():
            raise refused(where, f"has more decimals than {self.currency} has")
        return int(scaled)

    def text(self, minor: int) -> str:
        return str(Decimal(minor).scaleb(-self.exponent))


def _currency(order: AmazonOrder, items: Sequence[AmazonItem], market: Marketplace) -> str:
    priced = next((i.ItemPrice for i in items if i.ItemPrice is not None), None)
    money = order.OrderTotal or priced
    currency = money.CurrencyCode if money else market.currency
    if currency not in EXPONENTS:
        raise refused("order.OrderTotal.CurrencyCode", f"{currency} is not a supported currency")
    return currency


def _not_negative(value: int, where: str, what: str) -> int:
    if value < 0:
        raise refused(where, f"{what} comes to less than nothing")
    return value


class _Lines:
    """The canonical lines and shipping of an order's items, in minor units."""

    def __init__(self, minor: _Minor, inclusive: bool) -> None:
        self.minor, self.inclusive = minor, inclusive
        self.lines: list[dict[str, Any]] = []
        self.total = self.shipping = self.shipping_tax = 0

    def add(self, number: int, item: AmazonItem) -> None:
        at, money = f"items.{number}", self.minor
        if item.ItemPrice is None:
            raise refused(f"{at}.ItemPrice", "is missing: the item has no price yet")
        price, tax = money(item.ItemPrice, f"{at}.ItemPrice"), money(item.ItemTax, f"{at}.ItemTax")
        promo = money(item.PromotionDiscount, f"{at}.PromotionDiscount")
        promo_tax = money(item.PromotionDiscountTax, f"{at}.PromotionDiscountTax")
        line_tax = _not_negative(tax - promo_tax, f"{at}.ItemTax", "ItemTax − PromotionDiscountTax")
        net_price = _not_negative(
            price - tax if self.inclusive else price, f"{at}.ItemPrice", "the net price"
        )
        net_discount = _not_negative(
            promo - promo_tax if self.inclusive else promo,
            f"{at}.PromotionDiscount",
            "the discount, net",
        )
        if net_discount > net_price:
            raise refused(f"{at}.PromotionDiscount", "is more than the item's price")
        quantity = item.QuantityOrdered
        unit = -(-net_price // quantity)  # rounded up: the remainder goes to the discount
        discount = net_discount + unit * quantity - net_price
        self.lines.append(
            {
                "sku": item.SellerSKU,
                "quantity": quantity,
                "unit_price": money.text(unit),
                "discount": money.text(discount),
                "tax": money.text(line_tax),
            }
        )
        self.total += net_price - net_discount + line_tax
        self._ship(at, item)

    def _ship(self, at: str, item: AmazonItem) -> None:
        money, wrap = self.minor, item.BuyerInfo
        gross = (
            money(item.ShippingPrice, f"{at}.ShippingPrice")
            - money(item.ShippingDiscount, f"{at}.ShippingDiscount")
            + money(wrap.GiftWrapPrice if wrap else None, f"{at}.BuyerInfo.GiftWrapPrice")
        )
        tax = (
            money(item.ShippingTax, f"{at}.ShippingTax")
            - money(item.ShippingDiscountTax, f"{at}.ShippingDiscountTax")
            + money(wrap.GiftWrapTax if wrap else None, f"{at}.BuyerInfo.GiftWrapTax")
        )
        net = gross - tax if self.inclusive else gross
        self.shipping += _not_negative(net, f"{at}.ShippingPrice", "the shipping, net")
        self.shipping_tax += _not_negative(tax, f"{at}.ShippingTax", "the shipping's tax")
        self.total += net + tax


def _address(order: AmazonOrder, name: str, market: Marketplace) -> dict[str, Any]:
    given = order.ShippingAddress or AmazonAddress()
    street = [s for s in (given.AddressLine1, given.AddressLine2, given.AddressLine3) if s]
    city = given.City or given.Municipality or given.District or given.County
    needed = order.FulfillmentChannel == MFN and order.OrderStatus != CANCELED
    if needed and not (street and city):
        raise refused(
            "order.ShippingAddress",
            "has no street or city: Amazon gives them only with a Restricted Data Token, "
            "and a merchant-fulfilled order cannot ship without them",
        )
    return {
        "name": given.Name or name,
        "line1": street[0] if street else WITHHELD,
        "line2": ", ".join(street[1:]) or None,
        "city": city or WITHHELD,
        "postal_code": given.PostalCode,
        "region": given.StateOrRegion,
        "country": given.CountryCode or market.country,
    }


def place_order(order: AmazonOrder, items: Sequence[AmazonItem]) -> PlaceOrder:
    """The canonical order of an Amazon order and its items: a line for each item still
    ordered (QuantityOrdered above 0), in Amazon's order."""
    market = MARKETPLACES.get(order.MarketplaceId)
    if market is None:
        raise refused(
            "order.MarketplaceId",
            "is not a marketplace ordersync knows (whether its prices include tax): "
            "add it to adapters/channels/amazon_marketplaces.py",
        )
    currency = _currency(order, items, market)
    minor = _Minor(currency)
    lines = _Lines(minor, market.tax_inclusive)
    for number, item in enumerate(items):
        if item.QuantityOrdered > 0:
            lines.add(number, item)
    if order.OrderTotal is not None:
        total = minor(order.OrderTotal, "order.OrderTotal")
        if total != lines.total:
            raise refused(
                "order.OrderTotal",
                f"is {minor.text(total)} but the items add up to {minor.text(lines.total)}",
            )
    buyer, address = order.BuyerInfo, order.ShippingAddress
    name = (buyer.BuyerName if buyer else None) or (address.Name if address else None) or BUYER
    email = (buyer.BuyerEmail if buyer else None) or f"{order.AmazonOrderId}@buyer.amazon.invalid"
    grand = minor.text(lines.total)
    return PlaceOrder.model_validate(
        {
            "external_id": order.AmazonOrderId,
            "placed_at": order.PurchaseDate,
            "currency": currency,
            "customer": {"email": email, "name": name, "phone": address.Phone if address else None},
            "shipping_address": _address(order, name, market),
            "lines": lines.lines,
            "shipping": {
                "method": order.ShipmentServiceLevelCategory or order.ShipServiceLevel or SHIP,
                "amount": minor.text(lines.shipping),
                "tax": minor.text(lines.shipping_tax),
            },
            # Amazon collects the buyer's money and settles the seller: paid up front, as
            # far as ordersync's books go (cash on delivery is still to be collected).
            "payment": {
                "method": PAYMENT_METHOD,
                "status": "pending" if order.PaymentMethod == "COD" else "paid",
                "amount": grand,
            },
            "totals": {"grand_total": grand},
        }
    )


def order_commands(
    document: object, *, buyer_cancel: bool = False, reason: str = ""
) -> tuple[ChannelCommand, ...]:
    """The canonical commands of an order document (amazon_orders.OrderDocument);
    `buyer_cancel` when the notification says the buyer asked to cancel."""
    read = OrderDocument.model_validate(document)
    order = read.order
    if order.OrderStatus in WAITING:
        return ()
    ordered = [item for item in read.items if item.QuantityOrdered > 0]
    external_id = order.AmazonOrderId
    if order.OrderStatus == CANCELED and not any(item.ItemPrice for item in ordered):
        return (ChannelCancelRequest(external_id=external_id, reason=CANCELLED_ON_AMAZON),)
    if not ordered:
        raise refused("items", "no item of the order has a quantity ordered")
    command = ChannelOrder(
        order=place_order(order, read.items),
        version_at=order.LastUpdateDate,
        cancelled=order.OrderStatus == CANCELED,
        reserve_stock=order.FulfillmentChannel != AFN,
    )
    asked = buyer_cancel or any(item.buyer_requested_cancel for item in read.items)
    if asked and order.OrderStatus in CANCELLABLE:
        why = _reason(read.items, reason) or BUYER_ASKED
        return (command, ChannelCancelRequest(external_id=external_id, reason=why))
    return (command,)


def _reason(items: Sequence[AmazonItem], given: str) -> str:
    """The buyer's reason (the first item's that has one), else the notification's."""
    for item in items:
        if item.BuyerRequestedCancel and item.BuyerRequestedCancel.BuyerCancelReason:
            return item.BuyerRequestedCancel.BuyerCancelReason
    return given[:200]


def normalize(document: object) -> PlaceOrder:
    """The canonical order of a listed order document (`ordersync reconcile --channel`)."""
    commands = order_commands(document)
    orders = [c for c in commands if isinstance(c, ChannelOrder)]
    if not orders:
        raise refused("order.OrderStatus", "the order has nothing to place (pending or cancelled)")
    return orders[0].order
