"""Payments: capture per shipment within what was authorized and invoiced, voids, and one
payment per platform transaction id."""

from __future__ import annotations

import pytest

from domain.amendments import cancel_order
from domain.change_commands import CancelOrder, LineCancellation
from domain.errors import Conflict, DuplicateMismatch, Forbidden
from domain.money_commands import RecordPayment
from domain.payments import record_payment
from tests.unit.fakes import FakeUnitOfWork
from tests.unit.money_orders import broken, money_order, pay, ship


def test_a_capture_of_a_shipments_invoice_moves_captured_and_keeps_the_invariant() -> None:
    uow = FakeUnitOfWork()
    order = money_order(uow, [("A", 2, "10.00", "0.00", "0.00")])  # 20.00 + 6.03 shipping
    shipment = ship(uow, order.id, "T1", A=1)  # invoice 16.03
    payment, created = pay(uow, order.id, "capture", "CAP-1", "16.03", shipment_id=str(shipment))
    assert created and payment.amount == 1603
    stored = uow.stored(order.id)
    assert (stored.authorized_minor, stored.captured_minor) == (2603, 1603)
    assert uow.changes.entries[-1]["command"] == "capture"
    assert uow.event_types()[-1] == "payment.recorded"
    assert broken(uow, order.id) == []


def test_a_capture_above_what_was_authorized_is_refused_naming_both_figures() -> None:
    uow = FakeUnitOfWork()
    order = money_order(uow, [("A", 1, "10.00", "0.00", "0.00")])  # authorized 16.03
    shipment = ship(uow, order.id, "T1", A=1)
    pay(uow, order.id, "void", "V-1", "10.00")  # 6.03 left authorized
    commits, before = uow.commits, uow.stored(order.id)
    with pytest.raises(Conflict) as refused:
        pay(uow, order.id, "capture", "CAP-1", "16.03", shipment_id=str(shipment))
    assert refused.value.extra["authorized"] == "6.03"
    assert refused.value.extra["captured"] == "0.00"
    assert "6.03 authorized" in refused.value.detail
    assert uow.commits == commits and uow.stored(order.id) == before
    assert uow.finance.find_payment("capture", "CAP-1") is None


def test_a_capture_above_the_shipments_invoice_is_refused() -> None:
    uow = FakeUnitOfWork()
    order = money_order(uow, [("A", 2, "10.00", "0.00", "0.00")])
    shipment = ship(uow, order.id, "T1", A=1)  # 16.03 of the 26.03 authorized
    pay(uow, order.id, "capture", "CAP-1", "10.00", shipment_id=str(shipment))
    with pytest.raises(Conflict, match="left to capture"):
        pay(uow, order.id, "capture", "CAP-2", "6.04", shipment_id=str(shipment))
    pay(uow, order.id, "capture", "CAP-3", "6.03", shipment_id=str(shipment))
    assert uow.stored(order.id).captured_minor == 1603


def test_the_same_payment_again_is_the_recorded_one_and_other_content_is_a_conflict() -> None:
    uow = FakeUnitOfWork()
    order = money_order(uow, [("A", 1, "10.00", "0.00", "0.00")])
    first, _ = pay(uow, order.id, "authorization", "AUTH-2", "5.00")
    commits = uow.commits
    again, created = pay(uow, order.id, "authorization", "AUTH-2", "5.0")
    assert (again.id, created, uow.commits) == (first.id, False, commits)
    with pytest.raises(DuplicateMismatch):
        pay(uow, order.id, "authorization", "AUTH-2", "5.01")
    assert uow.stored(order.id).authorized_minor == 1603 + 500


def test_a_channel_reports_payments_of_its_own_orders_only() -> None:
    uow = FakeUnitOfWork()
    order = money_order(uow, [("A", 1, "10.00", "0.00", "0.00")])
    cmd = RecordPayment.model_validate(
        {"order_id": str(order.id), "kind": "void", "transaction_id": "V", "amount": "1.00"}
    )
    with pytest.raises(Forbidden):
        record_payment(uow, cmd, source="channel:pos", channel="pos")
    record_payment(uow, cmd, source="channel:web", channel="web")
    assert uow.stored(order.id).authorized_minor == 1503


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "capture", "amount": "1.00"},  # a capture names its shipment
        {"kind": "void", "amount": "1.00", "shipment_id": "6f1d8c1e-0000-4000-8000-000000000000"},
        {"kind": "refund", "amount": "1.00"},
        {"kind": "void", "amount": "-1.00"},
    ],
)
def test_a_payment_of_the_wrong_shape_is_refused_before_anything_is_read(body: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError):
        RecordPayment.model_validate(
            {"order_id": "6f1d8c1e-0000-4000-8000-000000000001", "transaction_id": "X", **body}
        )


def test_authorizations_stop_short_of_what_the_figures_can_hold() -> None:
    uow = FakeUnitOfWork()
    order = money_order(uow, [("A", 1, "10.00", "0.00", "0.00")])
    big = "9999999999999999.99"  # 10^18 − 1 minor units: the largest amount there is
    with pytest.raises(Conflict, match="not taken"):
        pay(uow, order.id, "authorization", "AUTH-BIG", big)
    assert uow.stored(order.id).authorized_minor == 1603


def test_an_up_front_payment_cannot_be_voided_below_what_its_unshipped_units_still_need() -> None:
    # Found by tests/integration/test_lifecycle_machine.py: an order paid up front, 21.26 of
    # its 26.03 voided before it shipped; its shipment then had 26.03 to apply of 4.77
    # authorized, and was refused whole (a parcel that left could not be recorded).
    uow = FakeUnitOfWork()
    order = money_order(uow, [("A", 2, "10.00", "0.00", "0.00")], status="paid")  # 26.03
    with pytest.raises(Conflict, match="still has to cover") as refused:
        pay(uow, order.id, "void", "V-1", "0.01")
    assert refused.value.extra["available"] == "0.00"
    assert uow.finance.find_payment("void", "V-1") is None
    ship(uow, order.id, "T1", A=1)  # 16.03 applied; 10.00 still needed by the other unit
    with pytest.raises(Conflict, match="still has to cover"):
        pay(uow, order.id, "void", "V-2", "0.01")
    cancel_order(uow, order.id, CancelOrder(lines=[LineCancellation(line_no=1, quantity=1)]))
    pay(uow, order.id, "void", "V-3", "10.00")  # the cancelled unit's funds go back
    stored = uow.stored(order.id)
    assert (stored.authorized_minor, stored.captured_minor) == (1603, 1603)
    assert broken(uow, order.id) == []
