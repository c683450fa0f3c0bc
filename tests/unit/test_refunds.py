"""Refunds: one credit memo each, split exactly; never more than captured, nor invoiced."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import Conflict, DuplicateMismatch
from domain.finance import CREDIT_MEMO, ReturnedGoods
from tests.unit.fakes import FakeUnitOfWork
from tests.unit.money_orders import broken, money_order, pay, refund, ship


def captured_order(uow: FakeUnitOfWork, **lines: int) -> uuid.UUID:
    """3 × A at 10.00 less 0.01 with tax 6.91 (2.31, 2.30, 2.30 a unit), shipping 4.90 +
    1.13; `lines` shipped in one parcel and captured in full."""
    order = money_order(uow, [("A", 3, "10.00", "0.01", "6.91")])
    shipment = ship(uow, order.id, "T1", **lines)
    [invoice] = uow.finance.documents(order.id)
    pay(uow, order.id, "capture", "CAP", f"{invoice.total / 100:.2f}", shipment_id=str(shipment))
    return order.id


def memos(uow: FakeUnitOfWork, order_id: uuid.UUID) -> list:  # type: ignore[type-arg]
    return [d for d in uow.finance.documents(order_id) if d.kind == CREDIT_MEMO]


def test_refunded_units_take_the_shipped_ones_in_shipping_order_with_their_shares() -> None:
    uow = FakeUnitOfWork()
    order_id = captured_order(uow, A=3)
    refund(uow, order_id, "R1", "partial", lines=[{"line_no": 1, "quantity": 1}])
    refund(uow, order_id, "R2", "partial", lines=[{"line_no": 1, "quantity": 2}])
    one, two = memos(uow, order_id)
    assert [(ln.quantity, ln.net, ln.discount, ln.tax) for ln in one.lines] == [(1, 999, 1, 231)]
    assert [(ln.quantity, ln.net, ln.discount, ln.tax) for ln in two.lines] == [(2, 2000, 0, 460)]
    assert (one.shipping, one.total, two.total) == (0, 999 + 231, 2000 + 460)
    with pytest.raises(Conflict, match="0 shipped and not yet refunded"):
        refund(uow, order_id, "R3", "partial", lines=[{"line_no": 1, "quantity": 1}])
    assert broken(uow, order_id) == []


def test_an_amount_alone_splits_into_net_and_tax_as_was_invoiced() -> None:
    uow = FakeUnitOfWork()
    order_id = captured_order(uow, A=3)  # invoiced net 29.99 + 4.90, tax 6.91 + 1.13
    made, memo, _ = refund(uow, order_id, "R1", "goodwill", amount="10.00", reason="late")
    assert memo.lines == () and memo.total == made.amount == 1000
    # Over what is left of each component: goods net 29.99, their tax 6.91, shipping 4.90,
    # its tax 1.13 (42.93). 10.00 × each / 42.93 = 6.9858…, 1.6096…, 1.1414…, 0.2632…:
    # floors 6.98, 1.60, 1.14, 0.26, and the two cents left go to the largest remainders.
    assert (memo.net, memo.tax, memo.shipping, memo.shipping_tax) == (699, 187, 114, 26)
    assert broken(uow, order_id) == []


def test_a_shipping_refund_gives_back_the_shipping_and_its_tax_once() -> None:
    uow = FakeUnitOfWork()
    order_id = captured_order(uow, A=1)
    _, memo, _ = refund(uow, order_id, "R1", "shipping")
    assert (memo.shipping, memo.shipping_tax, memo.total) == (490, 113, 603)
    with pytest.raises(Conflict, match="no shipping was invoiced"):
        refund(uow, order_id, "R2", "shipping")
    assert broken(uow, order_id) == []


def test_a_refund_above_what_was_captured_is_refused_and_writes_nothing() -> None:
    uow = FakeUnitOfWork()
    order = money_order(uow, [("A", 2, "10.00", "0.00", "0.00")])
    ship(uow, order.id, "T1", A=2)  # invoiced, not captured
    commits = uow.commits
    with pytest.raises(Conflict) as refused:
        refund(uow, order.id, "R1", "partial", amount="0.01")
    assert refused.value.extra["captured"] == "0.00"
    assert uow.commits == commits and memos(uow, order.id) == []
    assert uow.stored(order.id).refunded_minor == 0


def test_a_return_is_refunded_once_for_its_lines() -> None:
    uow = FakeUnitOfWork()
    order_id = captured_order(uow, A=3)
    return_id = uuid.uuid4()
    uow.finance.returns[return_id] = ReturnedGoods(return_id, order_id, {1: 2})
    _, memo, _ = refund(uow, order_id, "R1", "return", return_id=str(return_id))
    assert [(ln.quantity, ln.net, ln.tax) for ln in memo.lines] == [(2, 1999, 461)]
    with pytest.raises(Conflict, match="refunded already"):
        refund(uow, order_id, "R2", "return", return_id=str(return_id))


def test_the_same_refund_again_is_the_recorded_one_and_other_content_a_conflict() -> None:
    uow = FakeUnitOfWork()
    order_id = captured_order(uow, A=3)
    first, memo, _ = refund(uow, order_id, "R1", "partial", amount="1.00")
    again, memo_again, created = refund(uow, order_id, "R1", "partial", amount="1.0")
    assert (again.id, memo_again.id, created) == (first.id, memo.id, False)
    with pytest.raises(DuplicateMismatch):
        refund(uow, order_id, "R1", "partial", amount="2.00")
    assert len(memos(uow, order_id)) == 1


@given(st.lists(st.integers(1, 3000), min_size=1, max_size=8))
def test_amount_refunds_never_exceed_what_was_captured_and_their_parts_add_up(
    amounts: list[int],
) -> None:
    uow = FakeUnitOfWork()
    order_id = captured_order(uow, A=3)  # 47.93 captured
    for i, minor in enumerate(amounts):
        try:
            refund(uow, order_id, f"R{i}", "partial", amount=f"{minor / 100:.2f}")
        except Conflict:
            pass
        assert broken(uow, order_id) == []
    stored = uow.stored(order_id)
    assert stored.refunded_minor == sum(m.total for m in memos(uow, order_id)) <= 4793
    assert all(m.net + m.tax + m.shipping == m.total for m in memos(uow, order_id))
