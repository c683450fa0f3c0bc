"""Shipping: reservations and stock consumed, the order moved, shipment.dispatched emitted."""

from __future__ import annotations

import uuid

import pytest

from domain.commands import AdjustInventory, PlaceOrder, RecordShipment
from domain.errors import Conflict, NotFound
from domain.events import OrderAllocated, OrderBackordered, ShipmentDispatched
from domain.services import adjust_inventory, place_order
from domain.shipments import Shipment
from domain.shipping import record_shipment
from tests.factories import order_doc
from tests.unit.fakes import FakeUnitOfWork


def stocked(uow: FakeUnitOfWork, **on_hand: int) -> None:
    adjustments = [{"sku": sku, "location": "WH", "set_on_hand": n} for sku, n in on_hand.items()]
    adjust_inventory(uow, AdjustInventory.model_validate({"adjustments": adjustments}))


def ship(
    uow: FakeUnitOfWork, order_id: uuid.UUID, tracking: str = "T1", **lines: int
) -> tuple[Shipment, bool]:
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


def dispatches(uow: FakeUnitOfWork) -> list[ShipmentDispatched]:
    return [e.payload for e in uow.committed_events if isinstance(e.payload, ShipmentDispatched)]


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
    [dispatched] = dispatches(uow)
    assert dispatched.tracking_number == "T1"
    assert dispatched.shipped_value == "30.00"


def test_a_partial_shipment_partially_fulfils_and_the_same_tracking_again_changes_nothing() -> None:
    uow = FakeUnitOfWork()
    stocked(uow, A=5)
    order, _ = place_order(
        uow, PlaceOrder.model_validate(order_doc("S2", [("A", 3)])), channel="web"
    )
    first, created = ship(uow, order.id, A=1)
    again, created_again = ship(uow, order.id, A=1)
    assert created and not created_again and again.id == first.id
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


def mugs_order() -> PlaceOrder:
    """Issue 8, point 5: one mug at 10.00 and one free, on two lines of the same SKU."""
    doc = order_doc("S-MUGS", [("MUG", 1), ("MUG", 1)])
    doc["lines"][1]["unit_price"] = "0.00"
    doc.pop("shipping")
    doc["totals"] = {"grand_total": "10.00"}
    doc["payment"]["amount"] = "10.00"
    return PlaceOrder.model_validate(doc)


def test_one_sku_on_two_lines_ships_as_each_line_and_never_above_the_total() -> None:
    uow = FakeUnitOfWork()
    stocked(uow, MUG=5)
    order, _ = place_order(uow, mugs_order(), channel="web")
    ship(uow, order.id, tracking="T1", MUG=1)
    ship(uow, order.id, tracking="T2", MUG=1)

    # Each parcel is the line whose reservation it consumed: 10.00 once, 0.00 once.
    shipped = sorted(
        (line.line_no, line.quantity, p.shipped_value) for p in dispatches(uow) for line in p.lines
    )
    assert shipped == [(1, 1, "10.00"), (2, 1, "0.00")]
    stored = uow.stored(order.id)
    assert stored.status.value == "fulfilled"
    assert [ln.shipped for ln in stored.lines] == [1, 1]


def test_partial_shipments_of_one_line_add_up_to_its_value_exactly() -> None:
    uow = FakeUnitOfWork()
    stocked(uow, A=5)
    doc = order_doc("S-THIRDS", [("A", 3)])
    doc["lines"][0]["discount"] = "0.01"  # 29.99 for three units: no exact third
    doc["totals"]["grand_total"] = doc["payment"]["amount"] = "36.02"
    order, _ = place_order(uow, PlaceOrder.model_validate(doc), channel="web")
    for tracking in ("T1", "T2", "T3"):
        ship(uow, order.id, tracking=tracking, A=1)

    assert [p.shipped_value for p in dispatches(uow)] == ["9.99", "10.00", "10.00"]


def test_the_same_tracking_number_with_other_lines_is_a_conflict_naming_them() -> None:
    uow = FakeUnitOfWork()
    stocked(uow, A=5, B=5)
    order, _ = place_order(
        uow, PlaceOrder.model_validate(order_doc("S4", [("A", 3), ("B", 1)])), channel="web"
    )
    first, _ = ship(uow, order.id, A=1)
    commits = uow.commits
    with pytest.raises(Conflict, match=r"A: 1 recorded, 2 sent; B: 0 recorded, 1 sent") as raised:
        ship(uow, order.id, A=2, B=1)
    assert raised.value.extra == {"shipment_id": str(first.id)}
    assert uow.commits == commits
    assert [ln.shipped for ln in uow.stored(order.id).lines] == [1, 0]
    assert len(uow.shipments.shipments) == 1


def test_a_shrink_where_a_partly_shipped_order_holds_stock_backorders_its_remainder() -> None:
    uow = FakeUnitOfWork()
    stocked(uow, A=5)
    order, _ = place_order(
        uow, PlaceOrder.model_validate(order_doc("S5", [("A", 2)])), channel="web"
    )
    ship(uow, order.id, A=1)
    uow.committed_events.clear()

    stock = adjust_inventory(
        uow,
        AdjustInventory.model_validate(
            {"adjustments": [{"sku": "A", "location": "WH", "set_on_hand": 0}]}
        ),
    )

    stored = uow.stored(order.id)
    assert stored.status.value == "partially_fulfilled"
    assert stored.reservations == []
    assert (stored.lines[0].shipped, stored.lines[0].backordered) == (1, 1)
    assert stock["A"].atp == 0 and uow.inventory.level("A", "WH").reserved == 0
    assert uow.event_types() == ["order.allocated", "order.backordered", "inventory.changed"]
    allocated, backordered = (e.payload for e in uow.committed_events[:2])
    assert isinstance(allocated, OrderAllocated) and allocated.reservations == []
    assert isinstance(backordered, OrderBackordered)
    assert [(ln.line_no, ln.quantity) for ln in backordered.lines] == [(1, 1)]
