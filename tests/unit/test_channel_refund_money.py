"""A channel's refund is recorded as what the buyer got back: the channel's own per-line
amounts (Shopify's refund_line_items), not ordersync's rounding of the line's shares —
never beyond what is left to credit of the line."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import Conflict
from domain.finance import CREDIT_MEMO
from domain.money_commands import RecordRefund
from domain.refunds import record_refund
from domain.stated_credit import line_left
from tests.shopify_docs import doc
from tests.unit.channel_orders import deliver, ship_all, shopify_order
from tests.unit.fakes import FakeUnitOfWork
from tests.unit.money_orders import broken, money_order, pay, ship


def test_shopifys_partial_refund_is_recorded_as_exactly_what_shopify_gave_back() -> None:
    uow = FakeUnitOfWork()
    order_id = shopify_order(uow, financial_status="paid")  # captured as it ships
    ship_all(uow, order_id)

    applied = deliver(uow, "refunds/create", doc("refunds_create_partial"))

    assert applied.state == "applied"
    refunds = uow.finance.refund_list
    assert [(r.transaction_id, r.kind, r.amount) for r in refunds] == [
        ("1019283456706", "return", 1934),  # the tee: 17.91 + Shopify's 1.43 (not 1.44)
        ("1019283456706:1", "partial", 1215),  # the mug: 11.25 + 0.90
        ("1019283456706:2", "shipping", 529),
    ]
    assert sum(r.amount for r in refunds) == 3678  # Shopify's transaction: 36.78
    memos = [d for d in uow.finance.documents(order_id) if d.kind == CREDIT_MEMO]
    [tee] = memos[0].lines
    assert (tee.sku, tee.quantity, tee.net, tee.tax) == ("TEE-M-BLK", 1, 1791, 143)
    assert broken(uow, order_id) == []


def test_a_refund_line_stating_nothing_keeps_the_units_own_shares() -> None:
    uow = FakeUnitOfWork()
    order_id = shopify_order(uow, financial_status="paid")
    ship_all(uow, order_id)
    document = doc("refunds_create_partial")
    for item in document["refund_line_items"]:
        del item["subtotal"], item["subtotal_set"]

    deliver(uow, "refunds/create", document)

    [tee] = next(d for d in uow.finance.documents(order_id) if d.kind == CREDIT_MEMO).lines
    assert (tee.net, tee.tax) == (1791, 144)  # the first unit's share of 2.87


def test_a_refund_stating_more_tax_than_is_left_of_the_line_is_refused_whole() -> None:
    uow = FakeUnitOfWork()
    order_id = shopify_order(uow, financial_status="paid")
    ship_all(uow, order_id)
    document = doc("refunds_create_partial")
    document["refund_line_items"][1]["total_tax"] = "0.91"  # the mug's line carries 0.90
    document["refund_line_items"][1]["total_tax_set"]["presentment_money"]["amount"] = "0.91"
    before = uow.state()

    with pytest.raises(Conflict, match=r"line 2: the channel refunded 11\.25 net and 0\.91 tax"):
        deliver(uow, "refunds/create", document)

    assert uow.state() == before  # nothing of it: the inbox parks such a delivery


# A line of 3 units at 10.00 less 0.01 with tax 6.91 (unit shares 2.31, 2.30, 2.30),
# shipped and captured in full: then refunds of its units, each stating its own amounts.
UNIT_PRICE, LINE_NET, LINE_TAX = 1000, 2999, 691


def captured_line(uow: FakeUnitOfWork) -> uuid.UUID:
    order = money_order(uow, [("A", 3, "10.00", "0.01", "6.91")])
    shipment = ship(uow, order.id, "T1", A=3)
    [invoice] = uow.finance.documents(order.id)
    pay(uow, order.id, "capture", "CAP", f"{invoice.total / 100:.2f}", shipment_id=str(shipment))
    return order.id


def stated_refund(
    uow: FakeUnitOfWork, order_id: uuid.UUID, tx: str, units: int, net: int, tax: int
) -> None:
    cmd = RecordRefund.model_validate(
        {
            "order_id": str(order_id),
            "transaction_id": tx,
            "kind": "partial",
            "lines": [{"line_no": 1, "quantity": units}],
        }
    )
    record_refund(uow, cmd, stated={1: (Decimal(net) / 100, Decimal(tax) / 100)})


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 3), st.integers(0, LINE_NET + 50), st.integers(0, LINE_TAX + 50)),
        min_size=1,
        max_size=4,
    )
)
def test_refunds_by_lines_at_the_channels_amounts_never_credit_more_than_is_left_of_the_line(
    asked: list[tuple[int, int, int]],
) -> None:
    uow = FakeUnitOfWork()
    order_id = captured_line(uow)
    for n, (units, net, tax) in enumerate(asked):
        documents = uow.finance.documents(order_id)
        net_left, tax_left = line_left(documents, 1)
        units_left = uow.stored(order_id).lines[0].shipped - sum(
            ln.quantity for d in documents if d.kind == CREDIT_MEMO for ln in d.lines
        )
        before = uow.state()
        fits = (
            units <= units_left
            and net <= net_left
            and tax <= tax_left
            and net <= UNIT_PRICE * units
            and net + tax > 0
        )
        if fits:
            stated_refund(uow, order_id, f"R{n}", units, net, tax)
            memo = uow.finance.documents(order_id)[-1]
            assert [(ln.quantity, ln.net, ln.tax) for ln in memo.lines] == [(units, net, tax)]
        else:
            with pytest.raises(Conflict):
                stated_refund(uow, order_id, f"R{n}", units, net, tax)
            assert uow.state() == before
        net_left, tax_left = line_left(uow.finance.documents(order_id), 1)
        assert 0 <= net_left <= LINE_NET and 0 <= tax_left <= LINE_TAX
        assert broken(uow, order_id) == []


@pytest.mark.parametrize(
    ("net", "tax", "refused"),
    [
        (999, 231, None),  # the first unit's own shares
        (1000, 231, None),  # its whole price, no discount
        (1001, 231, r"priced 10\.00 in all"),  # above the unit's price
        (999, 692, "above what is left to credit of the line"),  # above the line's tax
    ],
)
def test_one_unit_at_the_channels_amounts_is_refused_above_its_bounds(
    net: int, tax: int, refused: str | None
) -> None:
    uow = FakeUnitOfWork()
    order_id = captured_line(uow)
    if refused is None:
        stated_refund(uow, order_id, "R1", 1, net, tax)
        assert uow.stored(order_id).refunded_minor == net + tax
    else:
        with pytest.raises(Conflict, match=refused):
            stated_refund(uow, order_id, "R1", 1, net, tax)
        assert uow.stored(order_id).refunded_minor == 0
