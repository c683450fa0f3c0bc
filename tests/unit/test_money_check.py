"""The money invariant: what each rule catches (each break made by hand on a sound order)."""

from __future__ import annotations

import dataclasses
import uuid

from domain.finance import CAPTURE, Payment
from domain.money_check import violations
from tests.unit.fakes import FakeUnitOfWork
from tests.unit.money_orders import money_order, pay, refund, ship


def sound() -> tuple[FakeUnitOfWork, uuid.UUID, uuid.UUID]:
    """Shipped in part, captured, refunded in part: consistent."""
    uow = FakeUnitOfWork()
    order = money_order(uow, [("A", 2, "10.00", "0.00", "2.30")])
    shipment = ship(uow, order.id, "T1", A=1)
    pay(uow, order.id, "capture", "C1", "17.18", shipment_id=str(shipment))
    refund(uow, order.id, "R1", "partial", amount="5.00")
    return uow, order.id, shipment


def check(uow: FakeUnitOfWork, order_id: uuid.UUID, **order_changes: int) -> list[str]:
    order = dataclasses.replace(uow.stored(order_id), **order_changes)
    return violations(order, uow.finance.documents(order_id), uow.finance.payments(order_id))


def test_a_sound_order_breaks_nothing() -> None:
    uow, order_id, _ = sound()
    assert check(uow, order_id) == []


def test_figures_that_disagree_with_the_records_are_named() -> None:
    uow, order_id, _ = sound()
    assert any("invoices add up" in v for v in check(uow, order_id, invoiced_minor=1))
    assert any("credited" in v for v in check(uow, order_id, credited_minor=400))
    assert any("≤ authorized" in v for v in check(uow, order_id, authorized_minor=1000))
    assert any("refunded" in v for v in check(uow, order_id, refunded_minor=2000))


def test_a_capture_above_its_invoice_or_of_no_invoice_is_named() -> None:
    uow, order_id, shipment = sound()
    order = uow.stored(order_id)
    extra = Payment(order_id, CAPTURE, "X", "test", 1, "EUR", shipment)
    stray = Payment(order_id, CAPTURE, "Y", "test", 1, "EUR", uuid.uuid4())
    documents, payments = uow.finance.documents(order_id), uow.finance.payments(order_id)
    over = dataclasses.replace(order, captured_minor=order.captured_minor + 1)
    assert any("above its invoice" in v for v in violations(over, documents, [*payments, extra]))
    assert any("no invoiced" in v for v in violations(over, documents, [*payments, stray]))


def test_an_invoice_for_what_did_not_ship_is_named() -> None:
    uow, order_id, _ = sound()
    order = uow.stored(order_id)
    order.lines[0].shipped = 2  # as if a second unit shipped without its invoice
    documents, payments = uow.finance.documents(order_id), uow.finance.payments(order_id)
    assert any("what shipped is worth" in v for v in violations(order, documents, payments))


def test_an_order_paid_up_front_with_an_invoice_not_applied_is_named() -> None:
    uow, order_id, _ = sound()
    order = uow.stored(order_id)
    order.payment = {**(order.payment or {}), "status": "paid"}
    documents = uow.finance.documents(order_id)
    assert any("paid up front" in v for v in violations(order, documents, []))
