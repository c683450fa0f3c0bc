"""Invoices: one per shipment, each line's parcels adding up to the line to the minor unit,
shipping on the first only; up-front funds applied as each ships."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from domain.events import PaymentRecorded, ShipmentDispatched
from domain.finance import INVOICE
from domain.invoicing import units_of
from domain.money import Money
from domain.orders import OrderLine
from tests.unit.fakes import FakeUnitOfWork
from tests.unit.money_orders import broken, money_order, ship


@st.composite
def line_and_parcels(draw: st.DrawFn) -> tuple[OrderLine, list[int]]:
    quantity = draw(st.integers(1, 30))
    price = draw(st.integers(0, 100_000))
    discount = draw(st.integers(0, price * quantity))
    tax = draw(st.integers(0, 50_000))
    parcels, left = [], quantity
    while left:
        parcels.append(draw(st.integers(1, left)))
        left -= parcels[-1]
    eur = "EUR"
    line = OrderLine(1, "A", quantity, Money(price, eur), Money(discount, eur), Money(tax, eur))
    return line, parcels


@given(line_and_parcels())
def test_a_lines_parcels_add_up_to_the_line_to_the_minor_unit(
    case: tuple[OrderLine, list[int]],
) -> None:
    line, parcels = case
    parts, start = [], 0
    for count in parcels:
        parts.append(units_of(line, start, count))
        start += count
    assert sum(p.discount for p in parts) == line.discount.minor
    assert sum(p.tax for p in parts) == line.tax.minor
    assert sum(p.net for p in parts) == line.unit_price.minor * line.quantity - line.discount.minor
    # Largest remainder: no two units' shares differ by more than one minor unit.
    units = [units_of(line, i, 1) for i in range(line.quantity)]
    assert max(u.tax for u in units) - min(u.tax for u in units) <= 1
    assert max(u.discount for u in units) - min(u.discount for u in units) <= 1


def invoices(uow: FakeUnitOfWork, order_id: uuid.UUID) -> list:  # type: ignore[type-arg]
    return [d for d in uow.finance.documents(order_id) if d.kind == INVOICE]


def test_partial_shipments_split_discount_and_tax_and_charge_shipping_on_the_first() -> None:
    uow = FakeUnitOfWork()
    # 3 × 10.00 less 0.01, tax 0.02 (one cent each to the first two units); 1 × 5.00.
    order = money_order(uow, [("A", 3, "10.00", "0.01", "0.02"), ("B", 1, "5.00", "0.00", "1.15")])
    first = ship(uow, order.id, "T1", A=1)
    ship(uow, order.id, "T2", A=2, B=1)

    one, two = invoices(uow, order.id)
    assert one.shipment_id == first
    assert [(ln.line_no, ln.quantity, ln.net, ln.discount, ln.tax) for ln in one.lines] == [
        (1, 1, 999, 1, 1)
    ]
    assert (one.shipping, one.shipping_tax, one.total) == (490, 113, 999 + 1 + 490 + 113)
    assert [(ln.line_no, ln.quantity, ln.net, ln.tax) for ln in two.lines] == [
        (1, 2, 2000, 1),
        (2, 1, 500, 115),
    ]
    assert (two.shipping, two.shipping_tax) == (0, 0)
    stored = uow.stored(order.id)
    assert (
        stored.invoiced_minor
        == one.total + two.total
        == Money.parse(stored.totals["grand_total"], "EUR").minor
    )
    assert broken(uow, order.id) == []


def test_shipment_dispatched_carries_its_invoice_and_a_consistent_shipped_value() -> None:
    uow = FakeUnitOfWork()
    order = money_order(uow, [("A", 2, "19.90", "0.00", "9.15")])
    ship(uow, order.id, "T1", A=1)
    [event] = [e.payload for e in uow.committed_events if isinstance(e.payload, ShipmentDispatched)]
    [invoice] = invoices(uow, order.id)
    assert event.invoice is not None
    assert (event.invoice.net, event.invoice.tax, event.invoice.shipping) == (
        "19.90",
        "5.71",
        "4.90",
    )
    assert event.invoice.total == str(Money(invoice.total, "EUR")) == "30.51"
    assert event.shipped_value == "24.48"  # the lines: 19.90 + 4.58 (the first unit's tax)


def test_an_order_paid_up_front_has_its_funds_applied_to_each_invoice_as_it_ships() -> None:
    uow = FakeUnitOfWork()
    order = money_order(uow, [("A", 2, "10.00", "0.00", "2.30")], status="paid")
    assert uow.stored(order.id).authorized_minor == 2000 + 230 + 490 + 113
    ship(uow, order.id, "T1", A=1)
    stored = uow.stored(order.id)
    [invoice] = invoices(uow, order.id)
    assert stored.captured_minor == invoice.total == 1000 + 115 + 490 + 113
    [applied] = uow.finance.payments(order.id)
    assert (applied.kind, applied.source, applied.shipment_id) == (
        "capture",
        "prepaid",
        invoice.shipment_id,
    )
    recorded = [e.payload for e in uow.committed_events if isinstance(e.payload, PaymentRecorded)]
    assert [(p.kind, p.amount, p.captured) for p in recorded] == [("capture", "17.18", "17.18")]
    ship(uow, order.id, "T2", A=1)
    assert uow.stored(order.id).captured_minor == uow.stored(order.id).authorized_minor
    assert broken(uow, order.id) == []


def test_an_order_with_payment_pending_secures_nothing_and_owes_its_invoices() -> None:
    uow = FakeUnitOfWork()
    order = money_order(uow, [("A", 1, "10.00", "0.00", "0.00")], status="pending")
    ship(uow, order.id, "T1", A=1)
    stored = uow.stored(order.id)
    assert (stored.authorized_minor, stored.captured_minor, stored.invoiced_minor) == (0, 0, 1603)
    assert broken(uow, order.id) == []  # outstanding 16.03: its capture has not come
