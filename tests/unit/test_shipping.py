"""Shipping: reservations and stock consumed, the order moved, shipment.dispatched emitted."""

from __future__ import annotations

import uuid

import pytest

from domain.commands import AdjustInventory, PlaceOrder, RecordShipment
from domain.errors import Conflict, NotFound
from domain.services import adjust_inventory, place_order
from domain.shipping import record_shipment
from tests.factories import order_doc
from tests.unit.fakes import FakeUnitOfWork


def stocked(uow: FakeUnitOfWork, **on_hand: int) -> None:
    adjustments = [{"sku": sku, "location": "WH", "set_on_hand": n} for sku, n in on_hand.items()]
    adjust_inventory(uow, AdjustInventory.model_validate({"adjustments": adjustments}))


def ship(uow: FakeUnitOfWork, order_id: uuid.UUID, tracking: str = "T1", **lines: int) -> object:
    cmd = RecordShipment.model_validate(
        {
            "order_id": str(order_id),
            "location": "WH",
            "carrier": "DHL",
            "tracking_number": tracking,
            "lines": [{"sku": sku, "quantity": q} for sku, q in lines.items()],
        }
    )
    return record_shipment(uow, cmd)


def test_shipping_everything_fulfils_the_order_and_consumes_stock() -> None:
    uow = FakeUnitOfWork()
    stocked(uow, A=5, B=5)
    order, _ = place_order(
        uow, PlaceOrder.model_validate(order_doc("S1", [("A", 2), ("B", 1)])), channel="web"
    )
    _, created = ship(uow, order.id, A=2, B=1)
    assert created
    stored = uow.stored(order.id)
    assert stored.status.value == "fulfilled"
    assert stored.version == 2
    assert [ln.shipped for ln in stored.lines] == [2, 1]
    assert stored.reservations == []
    assert uow.inventory.levels[("A", "WH")].on_hand == 3
    assert uow.inventory.levels[("A", "WH")].reserved == 0
    assert uow.event_types()[-1] == "shipment.dispatched"
    dispatched = uow.committed_events[-1].payload
    assert dispatched.tracking_number == "T1"  # type: ignore[attr-defined]
    assert dispatched.shipped_value == "30.00"  # type: ignore[attr-defined]


def test_a_partial_shipment_partially_fulfils_and_the_same_tracking_again_changes_nothing() -> None:
    uow = FakeUnitOfWork()
    stocked(uow, A=5)
    order, _ = place_order(
        uow, PlaceOrder.model_validate(order_doc("S2", [("A", 3)])), channel="web"
    )
    first, created = ship(uow, order.id, A=1)
    again, created_again = ship(uow, order.id, A=1)
    assert created and not created_again and again.id == first.id  # type: ignore[attr-defined]
    assert uow.stored(order.id).status.value == "partially_fulfilled"
    assert uow.stored(order.id).lines[0].shipped == 1


def test_shipping_more_than_is_reserved_there_is_a_conflict_and_changes_nothing() -> None:
    uow = FakeUnitOfWork()
    stocked(uow, A=1)
    order, _ = place_order(
        uow, PlaceOrder.model_validate(order_doc("S3", [("A", 2)])), channel="web"
    )
    commits = uow.commits
    with pytest.raises(Conflict, match="1 reserved there"):
        ship(uow, order.id, A=2)
    assert uow.commits == commits
    assert uow.stored(order.id).lines[0].shipped == 0


def test_shipping_an_unknown_order_is_not_found() -> None:
    with pytest.raises(NotFound):
        ship(FakeUnitOfWork(), uuid.uuid4(), A=1)
