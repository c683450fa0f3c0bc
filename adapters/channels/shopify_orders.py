"""A Shopify order as the canonical PlaceOrder: lines, discounts, taxes, shipping, exactly.

Decisions (each where Shopify and the canonical model differ):

- **Currency.** An order whose customer paid in another currency than the shop's
  (presentment_currency ≠ currency) is taken in the customer's: the amounts they were
  charged and are refunded in (Shopify's transactions are in it), read from each
  amount's `*_set.presentment_money`. The shop-currency figures, Shopify's conversion for
  its payouts, stay in the raw payload kept for audit. Without the `*_set` twins such an
  order cannot be read exactly: InvalidDelivery.
- **Taxes included** (`taxes_included`, the usual European shop): Shopify's prices then
  contain the tax, ours exclude it. Each line is converted exactly: its net (price ×
  quantity − discount − the tax Shopify says it contains) is kept to the cent, the unit
  price is the tax-inclusive price divided by (1 + the line's rates), rounded up to the
  currency's unit, and the line's discount takes what remains (the real discount, net of
  tax, and the rounding: less than one minor unit per unit). Line totals, tax and the
  grand total are then Shopify's to the cent; shipping likewise (its amount less its tax).
- **Gift cards sold** (line items with `gift_card`) are not stock and are never picked or
  shipped — Shopify issues them itself — so they are not lines of ours: they are checked
  in Shopify's totals, then left out, and the canonical grand total (and the payment) is
  the order's less their price. An order of nothing but gift cards is nothing to fulfil
  (None: the delivery is ignored). A gift card used *to pay* is one of the payment's
  gateways ("gift_card"), and changes no line.
- **Line numbers** are the positions of the remaining line items, in Shopify's order,
  from 1 (`stock_lines`): the client finds Shopify's line item of a line by it, and a
  refund's lines are matched to ours the same way.
- **SKUs** are the variant's SKU; a line item without one is "variant:<variant_id>", so
  that `ordersync sku map` can still map it; one with neither is InvalidDelivery.
- **Quantities** are the ordered ones (`quantity`, not `current_quantity`): refunds and
  cancellations come as their own deliveries, and counting them twice would restock twice.
- **Totals.** Shopify's own `total_price` (and `total_tax`) must be what its lines,
  discounts, taxes and shipping add up to; if not (duties, tips, a bug), InvalidDelivery
  names both figures, rather than an order whose money is guessed.
- **Who.** The email is the order's, else its contact email, else the customer's; the
  name the customer's, else the shipping then billing address's; no email at all is
  InvalidDelivery. No shipping address (a digital or pick-up order) ships to the billing
  address; neither is InvalidDelivery.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from typing import Any

from adapters.channels.shopify_payloads import Address, LineItem, MoneySet, Order, ShippingLine
from adapters.channels.webhook import InvalidDelivery
from domain.commands import PlaceOrder
from domain.currency import EXPONENTS
from domain.errors import InvalidMoney
from domain.money import Money

# Shopify's financial_status → the canonical payment status. partially_paid (a deposit
# captured, the rest promised) counts as authorized; partially_refunded stays paid (the
# refunds are deliveries of their own); a voided or expired authorization failed.
PAYMENT_STATUS = {
    "pending": "pending",
    "authorized": "authorized",
    "partially_paid": "authorized",
    "paid": "paid",
    "partially_refunded": "paid",
    "refunded": "refunded",
    "voided": "failed",
    "expired": "failed",
}
MAX_TEXT = 200  # what the canonical texts hold


class Amounts:
    """Reads amounts in the currency taken (the customer's), exactly, naming what is bad."""

    def __init__(self, currency: str, presentment: str | None) -> None:
        self.shop_currency = currency
        self.currency = presentment or currency
        if self.currency not in EXPONENTS:
            raise InvalidDelivery(f"currency {self.currency} is not supported")

    def __call__(self, what: str, plain: Decimal, both: MoneySet | None) -> Money:
        if both is not None:
            given = both.presentment_money
            if given.currency_code != self.currency:
                raise InvalidDelivery(
                    f"{what}: presentment money in {given.currency_code}, "
                    f"but the order is in {self.currency}"
                )
            value = given.amount
        elif self.currency == self.shop_currency:
            value = plain
        else:
            raise InvalidDelivery(
                f"{what}: only the shop-currency amount ({self.shop_currency}) is given, "
                f"not the customer's ({self.currency})"
            )
        try:
            return Money.parse(value, self.currency)
        except InvalidMoney as error:
            raise InvalidDelivery(f"{what}: {error.detail}") from None


def stock_lines(items: Sequence[LineItem]) -> list[tuple[int, LineItem]]:
    """The line items that are lines of ours (all but gift cards sold), numbered from 1."""
    kept = (item for item in items if not item.gift_card)
    return [(number, item) for number, item in enumerate(kept, start=1)]


def channel_sku(item: LineItem) -> str:
    """The line item's SKU as the channel's (mapped to ours later by the core)."""
    if item.sku is not None and item.sku.strip():
        return item.sku.strip()
    if item.variant_id is not None:
        return f"variant:{item.variant_id}"
    label = item.name or item.title or "?"
    raise InvalidDelivery(f"line item {item.id} ({label[:80]}) has neither a SKU nor a variant")


@dataclass(frozen=True, slots=True)
class _Charge:
    """One line item's or shipping line's money, as Shopify states it."""

    price: Money  # unit price (line items) or the shipping's price, as Shopify prices it
    gross: Money  # price × quantity
    discount: Money
    tax: Money
    rate: Decimal  # the sum of its tax rates

    def charged(self, taxes_included: bool) -> Money:
        """What the customer pays for it."""
        charged = self.gross - self.discount
        return charged if taxes_included else charged + self.tax


def _charge(read: Amounts, what: str, item: LineItem | ShippingLine, quantity: int = 1) -> _Charge:
    price = read(f"{what}.price", item.price, item.price_set)
    zero = Money.zero(read.currency)
    discount = sum(
        (
            read(f"{what}.discount_allocations.{i}", a.amount, a.amount_set)
            for i, a in enumerate(item.discount_allocations)
        ),
        zero,
    )
    tax = sum(
        (read(f"{what}.tax_lines.{i}", t.price, t.price_set) for i, t in enumerate(item.tax_lines)),
        zero,
    )
    rate = sum((t.rate or Decimal(0) for t in item.tax_lines), Decimal(0))
    return _Charge(price, price.times(quantity), discount, tax, rate)


def _text(*candidates: str | None) -> str | None:
    """The first candidate with something in it, stripped and cut to what a text holds."""
    for candidate in candidates:
        if candidate is not None and candidate.strip():
            return candidate.strip()[:MAX_TEXT]
    return None


def _joined(*parts: str | None) -> str | None:
    return _text(" ".join(p.strip() for p in parts if p and p.strip()))


def _address(address: Address | None, fallback_name: str) -> dict[str, Any] | None:
    if address is None:
        return None
    return {
        "name": _text(address.name, _joined(address.first_name, address.last_name))
        or _text(address.company)
        or fallback_name,
        "line1": address.address1 or "",
        "line2": _text(address.address2),
        "city": address.city or "",
        "postal_code": _text(address.zip),
        "region": _text(address.province_code, address.province),
        "country": (address.country_code or "").strip().upper(),
    }


def _line(charge: _Charge, quantity: int, sku: str, taxes_included: bool) -> dict[str, Any]:
    if not taxes_included:
        return {
            "sku": sku,
            "quantity": quantity,
            "unit_price": charge.price.amount,
            "discount": charge.discount.amount,
            "tax": charge.tax.amount,
        }
    if quantity == 0:
        raise InvalidDelivery(f"line {sku}: a quantity of 0")
    net = charge.gross.minor - charge.discount.minor - charge.tax.minor
    if net < 0:
        raise InvalidDelivery(f"line {sku}: its tax and discount exceed its price")
    # Integer minor units: the unit price net of tax, rounded up, and at least what the
    # line's net needs per unit, so that the discount (the remainder) is never negative.
    estimate = (Decimal(charge.price.minor) / (1 + charge.rate)).to_integral_value(ROUND_CEILING)
    unit = max(int(estimate), -(-net // quantity))
    currency = charge.price.currency
    return {
        "sku": sku,
        "quantity": quantity,
        "unit_price": Money(unit, currency).amount,
        "discount": Money(unit * quantity - net, currency).amount,
        "tax": charge.tax.amount,
    }


@dataclass(frozen=True, slots=True)
class _Shipping:
    document: dict[str, Any] | None  # the canonical shipping (None without shipping lines)
    charged: Money  # what the customer pays for it
    tax: Money


def _shipping(read: Amounts, lines: Sequence[ShippingLine], taxes_included: bool) -> _Shipping:
    zero = Money.zero(read.currency)
    if not lines:
        return _Shipping(None, zero, zero)
    charges = [_charge(read, f"shipping_lines.{i}", line) for i, line in enumerate(lines)]
    price = sum((c.gross for c in charges), zero)
    discount = sum((c.discount for c in charges), zero)
    tax = sum((c.tax for c in charges), zero)
    amount = price - discount - (tax if taxes_included else zero)
    if amount.minor < 0:
        raise InvalidDelivery("shipping: its discounts (and included tax) exceed its price")
    method = " + ".join(t for line in lines if (t := _text(line.title, line.code))) or "shipping"
    document = {"method": method[:MAX_TEXT], "amount": amount.amount, "tax": tax.amount}
    return _Shipping(document, amount + tax, tax)


def _check_totals(read: Amounts, order: Order, charged: Money, tax: Money) -> None:
    stated = read("total_price", order.total_price, order.total_price_set)
    if stated != charged:
        raise InvalidDelivery(
            f"Shopify's total_price is {stated} but its lines, discounts, taxes and shipping "
            f"add up to {charged}"
        )
    if order.total_tax is not None:
        stated_tax = read("total_tax", order.total_tax, order.total_tax_set)
        if stated_tax != tax:
            raise InvalidDelivery(
                f"Shopify's total_tax is {stated_tax} but its tax lines add up to {tax}"
            )


def _payment(order: Order, amount: Money) -> dict[str, Any] | None:
    if order.financial_status is None:
        return None
    status = PAYMENT_STATUS.get(order.financial_status)
    if status is None:
        raise InvalidDelivery(f"financial_status {order.financial_status[:40]!r} is not known")
    method = " + ".join(n.strip() for n in order.payment_gateway_names if n.strip()) or "shopify"
    return {"method": method[:MAX_TEXT], "status": status, "amount": amount.amount}


def captured(order: Order) -> Decimal | None:
    """What Shopify has captured of a partially paid order (a deposit, a partial capture):
    current_total_price less total_outstanding. None for every other status, which says
    it all (paid: everything), and where those figures are not in the currency the order
    is taken in (Shopify gives total_outstanding in the shop's only)."""
    if order.financial_status != "partially_paid" or order.total_outstanding is None:
        return None
    if (order.presentment_currency or order.currency) != order.currency:
        return None
    current = order.current_total_price
    total = order.total_price if current is None else current
    try:
        paid = Money.parse(total, order.currency) - Money.parse(
            order.total_outstanding, order.currency
        )
    except InvalidMoney as error:
        raise InvalidDelivery(f"total_outstanding: {error.detail}") from None
    return paid.amount if paid.minor > 0 else Decimal(0)


def _customer(order: Order) -> dict[str, Any]:
    customer = order.customer
    email = _text(order.email, order.contact_email, customer.email if customer else None)
    if email is None:
        raise InvalidDelivery("the order has no email: the canonical customer needs one")
    names = [_joined(customer.first_name, customer.last_name) if customer else None]
    for address in (order.shipping_address, order.billing_address):
        if address is not None:
            names.append(_text(address.name, _joined(address.first_name, address.last_name)))
    phone = _text(
        customer.phone if customer else None,
        order.phone,
        order.shipping_address.phone if order.shipping_address else None,
    )
    return {"email": email, "name": _text(*names) or email, "phone": phone}


def place_order(order: Order) -> PlaceOrder | None:
    """The canonical order; None if nothing of it is ours to fulfil (gift cards only).
    InvalidDelivery or a ValidationError if it cannot be taken as it is."""
    read = Amounts(order.currency, order.presentment_currency)
    included = order.taxes_included
    zero = Money.zero(read.currency)
    charges = [
        _charge(read, f"line_items.{i}", item, item.quantity)
        for i, item in enumerate(order.line_items)
    ]
    shipping = _shipping(read, order.shipping_lines, included)
    charged = sum((c.charged(included) for c in charges), zero) + shipping.charged
    tax = sum((c.tax for c in charges), zero) + shipping.tax
    _check_totals(read, order, charged, tax)

    ours = [
        (item, charge)
        for item, charge in zip(order.line_items, charges, strict=True)
        if not item.gift_card
    ]
    if not ours:
        return None
    grand_total = sum((c.charged(included) for _, c in ours), zero) + shipping.charged
    customer = _customer(order)
    ship_to = _address(order.shipping_address or order.billing_address, customer["name"])
    if ship_to is None:
        raise InvalidDelivery("the order has neither a shipping nor a billing address")
    return PlaceOrder.model_validate(
        {
            "external_id": str(order.id),
            "placed_at": order.created_at,
            "currency": read.currency,
            "customer": customer,
            "shipping_address": ship_to,
            "billing_address": _address(order.billing_address, customer["name"]),
            "lines": [
                _line(charge, item.quantity, channel_sku(item), included) for item, charge in ours
            ],
            "shipping": shipping.document,
            "payment": _payment(order, grand_total),
            "totals": {"grand_total": grand_total.amount},
        }
    )
