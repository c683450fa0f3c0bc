"""In-store sales: completed at the till, paid and handed over, so they skip what an order
placed at a distance goes through — no reservation, no hold, no WMS.

A sale becomes an order of its POS channel (external id = its sale id) that is created
straight in `fulfilled`: every unit handed over at the store (a shipment from the store,
its carrier IN-STORE and its tracking number the sale id), invoiced and paid in the same
transaction (payment status "paid": the invoice's total captured up front, so invoiced =
captured = its total). The store's on_hand falls at once. Events: order.accepted (the ERP's
sales order, the CRM), shipment.dispatched with its invoice (the ERP's invoice),
payment.recorded (the ERP's payment), inventory.changed (every channel's figures) — never
order.allocated for the sale itself: the WMS has nothing to do.

Goods already handed over are not refused for want of stock: refusing a completed sale
loses its revenue and leaves the ERP short of a sale that happened. The shelf count was
wrong instead, so on_hand falls by what the sale took but never below 0, and the units the
store's count did not have are the sale's *shortfall*: recorded on its change-log entry
(the order's timeline) and returned to the till, for a stock count to settle. When on_hand
falls below what is reserved there (ship-from-store orders), the newest reservations are
taken back and re-allocated elsewhere, as a stock adjustment does.

Refused (nothing written): an unknown SKU, an unregistered store, amounts not valid for
the currency, a `total` the lines do not add up to, a sale id already used for a sale
with other content. The same sale again is a duplicate and writes nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from domain.allocation import StockLevel
from domain.channel_commands import PosSale
from domain.commands import AddressIn, CustomerIn, LineIn, PaymentIn, PlaceOrder, TotalsIn
from domain.customers import customer_updated, profile_of
from domain.errors import ConcurrencyConflict, DuplicateMismatch, UnknownSku, ValidationFailed
from domain.events import DomainEvent
from domain.finance import FinancialDocument, Payment
from domain.invoicing import invoice_for
from domain.money_check import ensure_consistent
from domain.normalize import build_order
from domain.orders import Order
from domain.payments import apply_prepaid, payment_event, secure_payment
from domain.ports import UnitOfWork
from domain.services import accepted, settle_stock
from domain.shipments import Shipment, ShippedLine
from domain.shipping import dispatched_event

HANDOVER_CARRIER = "IN-STORE"  # the carrier of a sale's shipment: handed over at the till
WALK_IN_NAME = "Walk-in customer"
UNKNOWN_COUNTRY = "ZZ"  # ISO 3166-1's user-assigned code for an unknown country


class UnknownLocation(ValidationFailed):
    """The sale names a store that is not a registered location."""

    code = "unknown-location"


@dataclass(frozen=True, slots=True)
class Shortfall:
    """Units a sale handed over beyond what the store's on_hand said it had."""

    sku: str
    location: str
    quantity: int


@dataclass(frozen=True, slots=True)
class SaleApplied:
    order: Order
    created: bool  # False: the same sale again, nothing written
    shortfalls: tuple[Shortfall, ...] = ()


def walk_in_email(location: str) -> str:
    """The e-mail of a store's walk-in customer: one customer per store, whose profile
    (the store) never changes, so its sales never queue on its row. Under .invalid (RFC
    2606): never a real address."""
    slug = re.sub(r"[^a-z0-9]+", "-", location.lower()).strip("-") or "store"
    if slug != location.lower():  # "STORE LIS" and "STORE-LIS" stay two customers
        slug = f"{slug}-{hashlib.sha256(location.encode()).hexdigest()[:8]}"
    return f"walk-in@{slug[:63]}.store.invalid"


def _grand_total(sale: PosSale) -> Decimal:
    # Exact: amounts have at most 18 digits, quantities 6, lines 500 — within Decimal's 28.
    return sum(
        (ln.unit_price * ln.quantity - ln.discount + ln.tax for ln in sale.lines), Decimal(0)
    )


def sale_order(sale: PosSale, *, channel: str) -> Order:
    """The order a sale makes, checked as any order is (ValidationFailed, TotalsMismatch;
    a pydantic ValidationError if its money cannot even be written down), still placed."""
    total = _grand_total(sale)
    store = {
        "name": f"Store {sale.location}",
        "line1": f"Store {sale.location}",
        "city": sale.location,
        "country": sale.country or UNKNOWN_COUNTRY,
    }
    cmd = PlaceOrder(
        external_id=sale.sale_id,
        placed_at=sale.sold_at,
        currency=sale.currency,
        customer=CustomerIn(
            email=sale.customer_email or walk_in_email(sale.location),
            name=sale.customer_name or WALK_IN_NAME,
        ),
        shipping_address=AddressIn.model_validate(store),
        lines=[LineIn.model_validate(ln.model_dump(exclude={"kind"})) for ln in sale.lines],
        # Never below 0 here: a discount above its line's price is build_order's to refuse.
        payment=PaymentIn(method=sale.payment_method, status="paid", amount=max(total, 0)),
        totals=TotalsIn(grand_total=max(total, 0) if sale.total is None else sale.total),
    )
    return build_order(cmd, channel=channel)


def apply_pos_sale(uow: UnitOfWork, sale: PosSale, channel: str) -> SaleApplied:
    """Record one completed sale of `channel` (its SKUs already ours), all or nothing: the
    order fulfilled, paid and invoiced, the store's on_hand down. The channel-command
    dispatch calls it for a PosSale too. Retry it on ConcurrencyConflict (`retrying`)."""
    order = sale_order(sale, channel=channel)
    customer = profile_of(order)
    order.customer_id = customer.id
    with uow:
        skus = sorted({line.sku for line in order.lines})
        stock = uow.inventory.lock(skus)
        unknown = [sku for sku in skus if sku not in stock]
        if unknown:
            raise UnknownSku(f"unknown SKU(s): {', '.join(unknown)}", skus=unknown)
        if not uow.inventory.location_exists(sale.location):
            raise UnknownLocation(
                f"unknown store {sale.location!r}: register it as a location",
                location=sale.location,
            )
        shipment, invoice, prepaid = _hand_over(order, sale.location)
        levels = {(lv.sku, lv.location): lv for s in stock.values() for lv in s.levels}
        original = dict(levels)
        shortfalls = _take_from_shelf(levels, shipment)
        detail: dict[str, Any] = {"location": sale.location, "shipment_id": str(shipment.id)}
        if shortfalls:
            detail["shortfalls"] = [dataclasses.asdict(s) for s in shortfalls]
        uow.changes.record(order, "pos_sale", None, detail)
        added = uow.orders.add(order, customer)
        if added is None:
            uow.rollback()
            return SaleApplied(_recorded(uow, order), created=False)
        uow.shipments.add(shipment)
        uow.finance.add_document(invoice)
        if prepaid is not None and not uow.finance.add_payment(prepaid):
            raise ConcurrencyConflict()
        uow.emit(*_events(order, shipment, invoice, prepaid))
        if added.customer_version is not None:
            uow.emit(customer_updated(customer, added.customer_version))
        settle_stock(uow, stock, levels, original, cause="in-store sale", channel=channel)
        uow.commit()
    return SaleApplied(order, created=True, shortfalls=tuple(shortfalls))


def _hand_over(order: Order, location: str) -> tuple[Shipment, FinancialDocument, Payment | None]:
    """Every unit shipped from the store at once, invoiced and paid from the up-front
    funds; the order fulfilled and its money invariant checked."""
    for line in order.lines:
        line.shipped = line.quantity
    order.move_to(order.allocation_status())  # placed → fulfilled
    secure_payment(order)
    by_sku: dict[str, int] = defaultdict(int)
    for line in order.lines:
        by_sku[line.sku] += line.quantity
    shipment = Shipment(
        order.id,
        location,
        HANDOVER_CARRIER,
        order.external_id,
        [ShippedLine(sku, quantity) for sku, quantity in sorted(by_sku.items())],
    )
    invoice = invoice_for(order, {ln.line_no: ln.quantity for ln in order.lines}, shipment.id)
    order.invoiced_minor += invoice.total
    prepaid = apply_prepaid(order, invoice)
    ensure_consistent(order, [invoice], [prepaid] if prepaid else [])
    return shipment, invoice, prepaid


def _take_from_shelf(
    levels: dict[tuple[str, str], StockLevel], shipment: Shipment
) -> list[Shortfall]:
    """Lower the store's on_hand by what the sale took, never below 0; the units beyond it
    are the shortfall (a store without a stock row of the SKU had none)."""
    shortfalls = []
    for line in shipment.lines:
        key = (line.sku, shipment.location)
        level = levels.get(key)
        on_hand = 0 if level is None else level.on_hand
        if level is not None:
            levels[key] = dataclasses.replace(level, on_hand=max(0, on_hand - line.quantity))
        if line.quantity > on_hand:
            shortfalls.append(Shortfall(line.sku, shipment.location, line.quantity - on_hand))
    return shortfalls


def _events(
    order: Order, shipment: Shipment, invoice: FinancialDocument, prepaid: Payment | None
) -> list[DomainEvent]:
    shipped = {line.line_no: line.quantity for line in order.lines}
    events = [accepted(order), dispatched_event(order, shipment, shipped, invoice)]
    if prepaid is not None:
        events.append(payment_event(order, prepaid))
    return events


def _recorded(uow: UnitOfWork, order: Order) -> Order:
    """The order the same sale id made before: the same sale again, or a DuplicateMismatch."""
    existing = uow.orders.find_duplicate(order)
    if existing is None:  # the other writer rolled back after all: try again
        raise ConcurrencyConflict()
    if existing.fingerprint != order.fingerprint:
        raise DuplicateMismatch(
            f"sale_id {order.external_id!r} was already used for a sale with different content",
            order_id=str(existing.id),
        )
    return existing
