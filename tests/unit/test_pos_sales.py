"""In-store sales over the fake unit of work: fulfilled at once, paid, the store's on_hand
down, never below 0 (the shortfall recorded), all or nothing, once per sale id."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.channel_commands import PosSale
from domain.commands import PlaceOrder
from domain.errors import DuplicateMismatch, TotalsMismatch, UnknownSku, ValidationFailed
from domain.events import OrderAllocated, PaymentRecorded, ShipmentDispatched
from domain.money_check import violations
from domain.pos_sales import UnknownLocation, apply_pos_sale, walk_in_email
from domain.services import place_order
from domain.status import OrderStatus
from tests.factories import order_doc
from tests.unit.fakes import FakeUnitOfWork

STORE = "STORE-LIS"


def sale(sale_id: str = "LIS-0001", **changes: Any) -> PosSale:
    document: dict[str, Any] = {
        "sale_id": sale_id,
        "location": STORE,
        "sold_at": "2026-11-26T10:15:00Z",
        "currency": "EUR",
        "lines": [
            {"sku": "A", "quantity": 2, "unit_price": "10.00", "discount": "1.00", "tax": "4.37"},
            {"sku": "B", "quantity": 1, "unit_price": "0.00"},
        ],
    }
    document.update(changes)
    return PosSale.model_validate(document)


@pytest.fixture
def uow() -> FakeUnitOfWork:
    fake = FakeUnitOfWork()
    fake.inventory.seed("A", STORE, 5)
    fake.inventory.seed("B", STORE, 5)
    fake.inventory.seed("A", "WH-EAST", 10, priority=10)
    return fake


def test_a_sale_is_fulfilled_paid_and_invoiced_at_once(uow: FakeUnitOfWork) -> None:
    applied = apply_pos_sale(uow, sale(), "pos")
    order = uow.stored(applied.order.id)
    assert applied.created and applied.shortfalls == ()
    assert order.status is OrderStatus.FULFILLED
    assert order.external_id == "LIS-0001" and order.channel == "pos"
    assert order.totals["grand_total"] == "23.37"
    assert order.money == {
        "authorized": "23.37",
        "captured": "23.37",
        "refunded": "0.00",
        "invoiced": "23.37",
        "credited": "0.00",
    }
    assert not order.reservations
    assert violations(order, uow.finance.documents(order.id), uow.finance.payments(order.id)) == []
    assert [line.shipped for line in order.lines] == [2, 1]


def test_a_sale_takes_the_units_off_the_stores_shelf_only(uow: FakeUnitOfWork) -> None:
    apply_pos_sale(uow, sale(), "pos")
    assert uow.inventory.level("A", STORE).on_hand == 3
    assert uow.inventory.level("B", STORE).on_hand == 4
    assert uow.inventory.level("A", "WH-EAST").on_hand == 10


def test_a_sale_tells_the_erp_and_the_channels_but_never_the_wms(uow: FakeUnitOfWork) -> None:
    apply_pos_sale(uow, sale(), "pos")
    types = uow.event_types()
    assert types[:3] == ["order.accepted", "shipment.dispatched", "payment.recorded"]
    assert "order.allocated" not in types and "order.backordered" not in types
    assert types.count("inventory.changed") == 2
    [dispatched] = [
        e.payload for e in uow.committed_events if isinstance(e.payload, ShipmentDispatched)
    ]
    assert (dispatched.location, dispatched.carrier, dispatched.tracking_number) == (
        STORE,
        "IN-STORE",
        "LIS-0001",
    )
    assert dispatched.invoice is not None and dispatched.invoice.total == "23.37"
    [paid] = [e.payload for e in uow.committed_events if isinstance(e.payload, PaymentRecorded)]
    assert (paid.kind, paid.amount, paid.captured) == ("capture", "23.37", "23.37")


def test_the_same_sale_again_writes_nothing(uow: FakeUnitOfWork) -> None:
    first = apply_pos_sale(uow, sale(), "pos")
    before, events = uow.state(), len(uow.committed_events)
    again = apply_pos_sale(uow, sale(), "pos")
    assert not again.created and again.order.id == first.order.id
    assert uow.state() == before and len(uow.committed_events) == events


def test_a_sale_id_reused_for_another_sale_is_refused(uow: FakeUnitOfWork) -> None:
    apply_pos_sale(uow, sale(), "pos")
    before = uow.state()
    with pytest.raises(DuplicateMismatch):
        apply_pos_sale(uow, sale(lines=[{"sku": "A", "quantity": 1, "unit_price": "10.00"}]), "pos")
    assert uow.state() == before


def test_the_same_sale_id_of_another_channel_is_another_sale(uow: FakeUnitOfWork) -> None:
    apply_pos_sale(uow, sale(), "pos")
    assert apply_pos_sale(uow, sale(), "pos-porto").created


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        (
            {
                "lines": [
                    {"sku": "A", "quantity": 1, "unit_price": "1"},
                    {"sku": "NOPE", "quantity": 1, "unit_price": "1"},
                ]
            },
            UnknownSku,
        ),
        ({"location": "STORE-NOWHERE"}, UnknownLocation),
        ({"total": "23.38"}, TotalsMismatch),
        ({"currency": "JPY"}, ValidationFailed),  # 10.00 yen has decimals JPY has not
        (
            {"lines": [{"sku": "A", "quantity": 1, "unit_price": "1.00", "discount": "2.00"}]},
            ValidationFailed,
        ),
    ],
)
def test_a_sale_that_cannot_be_recorded_writes_nothing(
    uow: FakeUnitOfWork, changes: dict[str, Any], error: type[Exception]
) -> None:
    before = uow.state()
    with pytest.raises(error):
        apply_pos_sale(uow, sale(**changes), "pos")
    assert uow.state() == before and uow.committed_events == []


def test_a_till_total_that_matches_is_taken(uow: FakeUnitOfWork) -> None:
    assert apply_pos_sale(uow, sale(total="23.37"), "pos").created


def test_units_beyond_the_shelf_count_are_a_shortfall_and_on_hand_stops_at_zero(
    uow: FakeUnitOfWork,
) -> None:
    applied = apply_pos_sale(
        uow, sale(lines=[{"sku": "A", "quantity": 7, "unit_price": "10.00"}]), "pos"
    )
    assert applied.created
    assert [(s.sku, s.location, s.quantity) for s in applied.shortfalls] == [("A", STORE, 2)]
    assert uow.inventory.level("A", STORE).on_hand == 0
    [entry] = [e for e in uow.changes.entries if e["command"] == "pos_sale"]
    assert entry["detail"]["shortfalls"] == [{"sku": "A", "location": STORE, "quantity": 2}]
    order = uow.stored(applied.order.id)
    assert order.status is OrderStatus.FULFILLED and order.money["captured"] == "70.00"


def test_a_store_without_a_stock_row_of_the_sku_had_none(uow: FakeUnitOfWork) -> None:
    uow.inventory.seed("C", "WH-EAST", 3)
    applied = apply_pos_sale(
        uow, sale(lines=[{"sku": "C", "quantity": 1, "unit_price": "5.00"}]), "pos"
    )
    assert [(s.sku, s.quantity) for s in applied.shortfalls] == [("C", 1)]
    assert uow.inventory.level("C", "WH-EAST").on_hand == 3


def test_a_sale_below_what_is_reserved_at_the_store_moves_the_reservation_elsewhere(
    uow: FakeUnitOfWork,
) -> None:
    """A ship-from-store order held the store's last unit; the walk-in took it: the order's
    reservation goes to the warehouse, as a stock adjustment would move it."""
    uow.inventory.levels.pop(("A", "WH-EAST"))
    uow.inventory.seed("A", "WH-EAST", 1, priority=90)  # after the store
    uow.inventory.seed("A", STORE, 1, priority=10)
    web, _ = place_order(
        uow, PlaceOrder.model_validate(order_doc("WEB-1", [("A", 1)])), channel="web"
    )
    assert [r.location for r in uow.stored(web.id).reservations] == [STORE]
    apply_pos_sale(uow, sale(lines=[{"sku": "A", "quantity": 1, "unit_price": "10.00"}]), "pos")
    assert [r.location for r in uow.stored(web.id).reservations] == ["WH-EAST"]
    store = uow.inventory.level("A", STORE)
    assert (store.on_hand, store.reserved) == (0, 0)
    moved = [e.payload for e in uow.committed_events if isinstance(e.payload, OrderAllocated)]
    assert [p.order_id for p in moved][-1] == str(web.id)  # the web order's, not the sale's


def test_a_walk_in_sale_belongs_to_the_stores_walk_in_customer(uow: FakeUnitOfWork) -> None:
    order = apply_pos_sale(uow, sale(), "pos").order
    assert order.customer["email"] == "walk-in@store-lis.store.invalid"
    assert order.customer["name"] == "Walk-in customer"
    named = apply_pos_sale(
        uow, sale("LIS-0002", customer_email="Ana@Example.com", customer_name="Ana"), "pos"
    ).order
    assert (named.customer["email"], named.customer["name"]) == ("ana@example.com", "Ana")


def test_walk_in_emails_keep_stores_apart() -> None:
    assert walk_in_email("STORE-LIS") == "walk-in@store-lis.store.invalid"
    assert walk_in_email("STORE LIS") != walk_in_email("STORE-LIS")
    assert walk_in_email("Café") != walk_in_email("Caf")


@given(
    lines=st.lists(
        st.tuples(
            st.sampled_from(["A", "B"]),
            st.integers(1, 9),
            st.integers(0, 10_000),
            st.integers(0, 2_000),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_every_sale_keeps_the_money_invariant_and_on_hand_at_or_above_zero(
    lines: list[tuple[str, int, int, int]],
) -> None:
    fake = FakeUnitOfWork()
    fake.inventory.seed("A", STORE, 4)
    fake.inventory.seed("B", STORE, 0)
    document = [
        {"sku": sku, "quantity": q, "unit_price": f"{price / 100:.2f}", "tax": f"{tax / 100:.2f}"}
        for sku, q, price, tax in lines
    ]
    order = apply_pos_sale(fake, sale(lines=document), "pos").order
    stored = fake.stored(order.id)
    assert (
        violations(stored, fake.finance.documents(order.id), fake.finance.payments(order.id)) == []
    )
    assert stored.invoiced_minor == stored.captured_minor == stored.authorized_minor
    assert all(lv.on_hand >= 0 for lv in fake.inventory.levels.values())
    sold_a = sum(q for sku, q, _, _ in lines if sku == "A")
    assert fake.inventory.level("A", STORE).on_hand == max(0, 4 - sold_a)
