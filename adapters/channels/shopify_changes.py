"""What a Shopify refund or fulfillment means, in canonical terms.

- **refunds/create → ChannelRefund.** The amount is what Shopify gave back: its
  transactions of kind `refund` that succeeded (in the customer's currency, as the order's
  amounts are taken). Of it, shipping is the order adjustments of kind `shipping_refund`
  (Shopify writes them negative; their tax included: the refund's amount includes it
  too), or, where a refund has none, its `refund_shipping_lines`. Each refunded line item
  names its line by its position among the order's lines (`shopify_orders.stock_lines`),
  which the refund itself does not carry: the caller reads the order (`positions`). A
  line restocked (`restock_type` return, cancel or legacy_restock) names Shopify's
  location id as where; `no_restock` names none. Refunded gift cards are no line of ours.
  Each line carries what Shopify gave back for its units — `subtotal_set` and
  `total_tax_set`, in the refund's currency like its amount — as the line's net and tax
  (the subtotal less the tax where the order's prices include it: `taxes_included`, read
  with the positions): ordersync credits those, not its own rounding of the line's shares,
  so the refund recorded is Shopify's to the cent. A line item without both states nothing.
- **fulfillments/create → ChannelShipment**, once the fulfillment succeeded (`status`
  success; pending or open ones have shipped nothing yet: None). Its lines are the
  fulfilled line items (their `quantity` is the quantity in this fulfillment), by the
  channel's SKU. The location is left to the core (where the order's reservations are):
  Shopify's location ids are not our location codes. Without a tracking company the
  carrier is "unknown"; without a tracking number the fulfillment's own name ("#1001.1")
  is the reference.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from adapters.channels.shopify_orders import channel_sku
from adapters.channels.shopify_payloads import Fulfillment, MoneySet, Refund, RefundLineItem
from adapters.channels.webhook import InvalidDelivery
from domain.channel_commands import ChannelRefund, ChannelShipment
from domain.currency import EXPONENTS
from domain.errors import InvalidMoney
from domain.money import Money

RESTOCKED = frozenset({"return", "cancel", "legacy_restock"})
MAX_CARRIER = 64
MAX_TRACKING = 128


@dataclass(frozen=True, slots=True)
class RefundBasis:
    """What a refund's lines need of their order (read from Shopify): our line number of
    each of its line item ids, and whether its prices include tax."""

    positions: Mapping[int, int] = field(default_factory=dict)
    taxes_included: bool = False


def needs_positions(refund: Refund) -> bool:
    """Whether the refund names lines of ours (then the order's line positions are needed)."""
    return any(
        item.quantity > 0 and not (item.line_item is not None and item.line_item.gift_card)
        for item in refund.refund_line_items
    )


def _currency(refund: Refund) -> str | None:
    """The refund's currency: its transactions', else that of its first amount in both."""
    currencies = {t.currency for t in refund.transactions if t.currency is not None}
    if len(currencies) > 1:
        raise InvalidDelivery(f"the refund's transactions are in {', '.join(sorted(currencies))}")
    if currencies:
        return currencies.pop()
    sets = [a.amount_set for a in refund.order_adjustments] + [
        s.subtotal_amount_set for s in refund.refund_shipping_lines
    ]
    return next((s.presentment_money.currency_code for s in sets if s is not None), None)


def _money(currency: str | None, what: str, plain: Decimal, both: MoneySet | None) -> Money:
    if currency is None or currency not in EXPONENTS:
        raise InvalidDelivery(f"{what}: the refund's currency ({currency}) is not supported")
    value = plain
    if both is not None:
        if both.presentment_money.currency_code != currency:
            raise InvalidDelivery(f"{what}: not in the refund's currency, {currency}")
        value = both.presentment_money.amount
    try:
        return Money.parse(value, currency)
    except InvalidMoney as error:
        raise InvalidDelivery(f"{what}: {error.detail}") from None


def _amounts(refund: Refund) -> tuple[Decimal, Decimal]:
    """(what was given back, of it what was shipping)."""
    currency = _currency(refund)
    paid = [
        _money(currency, f"transactions.{i}.amount", t.amount, None)
        for i, t in enumerate(refund.transactions)
        if t.kind == "refund" and t.status == "success"
    ]
    adjustments = [
        _money(currency, f"order_adjustments.{i}.amount", a.amount, a.amount_set)
        + _money(currency, f"order_adjustments.{i}.tax_amount", a.tax_amount, a.tax_amount_set)
        for i, a in enumerate(refund.order_adjustments)
        if a.kind == "shipping_refund"
    ]
    if adjustments:
        shipping = [Money(-m.minor, m.currency) for m in adjustments]
    else:
        shipping = [
            _money(
                currency,
                f"refund_shipping_lines.{i}",
                s.subtotal_amount_set.presentment_money.amount,
                None,
            )
            for i, s in enumerate(refund.refund_shipping_lines)
        ]
    amount = sum(m.minor for m in paid)
    shipped = sum(m.minor for m in shipping)
    if shipped < 0 or shipped > amount:
        raise InvalidDelivery(
            f"the refund gives back {shipped} minor units of shipping of {amount} in all"
        )
    if currency is None:  # nothing to read: a refund of no money (a restock, a note)
        return Decimal(0), Decimal(0)
    return Money(amount, currency).amount, Money(shipped, currency).amount


def _given_back(
    currency: str | None, i: int, item: RefundLineItem, taxes_included: bool
) -> dict[str, Decimal]:
    """A refund line's net and tax as Shopify gave them back ({}: it does not say)."""
    if item.subtotal is None or item.total_tax is None or currency is None:
        return {}
    what = f"refund_line_items.{i}"
    subtotal = _money(currency, f"{what}.subtotal", item.subtotal, item.subtotal_set)
    tax = _money(currency, f"{what}.total_tax", item.total_tax, item.total_tax_set)
    net = subtotal - tax if taxes_included else subtotal
    if net.minor < 0 or tax.minor < 0:
        raise InvalidDelivery(f"{what}: a subtotal of {subtotal} with a tax of {tax}")
    return {"net": net.amount, "tax": tax.amount}


def refund_command(refund: Refund, basis: RefundBasis) -> ChannelRefund:
    """The canonical refund; `basis`: the order's line item ids → our line numbers, and
    whether its prices include tax."""
    positions = basis.positions
    currency = _currency(refund)
    lines = []
    for i, item in enumerate(refund.refund_line_items):
        if item.quantity == 0 or (item.line_item is not None and item.line_item.gift_card):
            continue
        line_no = positions.get(item.line_item_id)
        if line_no is None:
            raise InvalidDelivery(
                f"refund_line_items.{i}: line item {item.line_item_id} is not a line of "
                f"order {refund.order_id}"
            )
        restocked = item.restock_type in RESTOCKED and item.location_id is not None
        lines.append(
            {
                "line_no": line_no,
                "quantity": item.quantity,
                "restock_location": str(item.location_id) if restocked else None,
                **_given_back(currency, i, item, basis.taxes_included),
            }
        )
    amount, shipping = _amounts(refund)
    return ChannelRefund.model_validate(
        {
            "external_id": str(refund.order_id),
            "transaction_id": str(refund.id),
            "amount": amount,
            "shipping": shipping,
            "lines": lines,
            "reason": (refund.note or "")[:200],
        }
    )


def shipment_command(fulfillment: Fulfillment) -> ChannelShipment | None:
    """The canonical shipment; None if the fulfillment shipped nothing of ours (yet)."""
    if fulfillment.status != "success":
        return None
    lines = [
        {"sku": channel_sku(item), "quantity": item.quantity}
        for item in fulfillment.line_items
        if not item.gift_card and item.quantity > 0
    ]
    if not lines:
        return None
    tracking = next(
        (
            t.strip()
            for t in (fulfillment.tracking_number, *fulfillment.tracking_numbers, fulfillment.name)
            if t and t.strip()
        ),
        str(fulfillment.id),
    )
    carrier = (fulfillment.tracking_company or "").strip() or "unknown"
    return ChannelShipment.model_validate(
        {
            "external_id": str(fulfillment.order_id),
            "shipment_ref": str(fulfillment.id),
            "carrier": carrier[:MAX_CARRIER],
            "tracking_number": tracking[:MAX_TRACKING],
            "lines": lines,
        }
    )
