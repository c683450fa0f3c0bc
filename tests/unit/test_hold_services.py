"""Held orders over the fake unit of work: stock reserved, the WMS told nothing until the
release; customers made and changed with the order."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest

from domain.commands import AdjustInventory, PlaceOrder, RecordShipment, ReleaseOrder
from domain.customers import customer_id_for
from domain.errors import Conflict, NotFound
from domain.events import CustomerUpdated, OrderAllocated, OrderHeld, OrderReleased
from domain.holds import HoldRule
from domain.orders import Order
from domain.releases import release_order
from domain.services import adjust_inventory, allocation_events, place_order
from domain.shipping import record_shipment
from domain.status import OrderStatus
from tests.factories import CONTRACT_ORDER
from tests.unit.fakes import FakeUnitOfWork

SKU = "TEE-M-BLK"
WMS_EVENTS = {"order.allocated", "order.backordered"}


@pytest.fixture
def uow() -> FakeUnitOfWork:
    fake = FakeUnitOfWork()
    fake.inventory.seed(SKU, "WH-EAST", 10)
    fake.hold_rules.rules = [HoldRule(3, "web", "payment_not_authorized")]
    return fake


def place(uow: FakeUnitOfWork, **changes: Any) -> Order:
    doc = copy.deepcopy(CONTRACT_ORDER)
    doc.update(changes)
    order, _ = place_order(uow, PlaceOrder.model_validate(doc), channel="web")
    return order


def unpaid() -> dict[str, Any]:
    return {"method": "card", "status": "pending", "amount": "54.98"}


def test_a_screened_order_is_held_with_its_stock_reserved_and_nothing_for_the_wms(
    uow: FakeUnitOfWork,
) -> None:
    order = place(uow, payment=unpaid())

    assert order.status is OrderStatus.ON_HOLD
    assert order.holds == ["payment_not_authorized: the payment is pending (rule 3)"]
    assert uow.inventory.level(SKU, "WH-EAST").reserved == 2
    assert not WMS_EVENTS & set(uow.event_types())
    [held] = [e.payload for e in uow.committed_events if isinstance(e.payload, OrderHeld)]
    assert held.reasons == order.holds
    assert uow.changes.entries[0]["detail"] == {"holds": order.holds}


def test_an_order_the_rules_pass_is_not_held(uow: FakeUnitOfWork) -> None:
    order = place(uow)
    assert order.status is OrderStatus.ALLOCATED
    assert "order.held" not in uow.event_types()


def test_allocation_events_say_nothing_for_a_held_order(uow: FakeUnitOfWork) -> None:
    order = place(uow, payment=unpaid())
    assert allocation_events(order) == []
    assert allocation_events(order, reallocated=True) == []


def test_a_stock_shrink_of_a_held_order_tells_the_wms_nothing(uow: FakeUnitOfWork) -> None:
    order = place(uow, payment=unpaid())
    before = len(uow.committed_events)
    adjust_inventory(
        uow,
        AdjustInventory.model_validate(
            {"adjustments": [{"sku": SKU, "location": "WH-EAST", "set_on_hand": 1}]}
        ),
    )
    assert not WMS_EVENTS & {e.event_type for e in uow.committed_events[before:]}
    stored = uow.stored(order.id)
    assert stored.status is OrderStatus.ON_HOLD  # still held, now partly backordered
    assert stored.lines[0].allocated == 1


def test_a_release_sends_order_released_then_the_allocation(uow: FakeUnitOfWork) -> None:
    order = place(uow, payment=unpaid())
    before = len(uow.committed_events)

    released = release_order(uow, order.id, ReleaseOrder(reason="paid by phone"), released_by="a:b")

    assert released.status is OrderStatus.ALLOCATED
    assert released.holds == []
    assert released.version == order.version + 1
    events = uow.committed_events[before:]
    assert [e.event_type for e in events] == ["order.released", "order.allocated"]
    assert isinstance(events[0].payload, OrderReleased)
    assert events[0].payload.released_by == "a:b"
    assert events[0].payload.reason == "paid by phone"
    assert isinstance(events[1].payload, OrderAllocated)
    assert {e.aggregate_version for e in events} == {released.version}
    assert uow.changes.entries[-1]["command"] == "release"
    assert uow.changes.entries[-1]["status_from"] == "on_hold"
    assert uow.stored(order.id).status is OrderStatus.ALLOCATED


def test_releasing_an_order_that_is_not_held_is_a_conflict_and_changes_nothing(
    uow: FakeUnitOfWork,
) -> None:
    order = place(uow)
    commits = uow.commits
    with pytest.raises(Conflict, match="not on hold"):
        release_order(uow, order.id, ReleaseOrder(), released_by="admin:admin")
    assert uow.commits == commits
    with pytest.raises(NotFound):
        release_order(uow, uuid.uuid4(), ReleaseOrder(), released_by="admin:admin")


def test_a_shipment_of_a_held_order_is_a_conflict(uow: FakeUnitOfWork) -> None:
    order = place(uow, payment=unpaid())
    cmd = RecordShipment.model_validate(
        {
            "order_id": str(order.id),
            "location": "WH-EAST",
            "carrier": "DHL",
            "tracking_number": "T1",
            "lines": [{"sku": SKU, "quantity": 2}],
        }
    )
    with pytest.raises(Conflict, match="on hold"):
        record_shipment(uow, cmd)
    assert uow.inventory.level(SKU, "WH-EAST").on_hand == 10


def customer_events(uow: FakeUnitOfWork) -> list[CustomerUpdated]:
    return [e.payload for e in uow.committed_events if isinstance(e.payload, CustomerUpdated)]


def test_a_customer_is_one_per_normalized_email_and_updated_only_when_its_profile_changes(
    uow: FakeUnitOfWork,
) -> None:
    first = place(uow, external_id="A-1")
    place(
        uow, external_id="A-2", customer={**CONTRACT_ORDER["customer"], "email": "ANA@example.com "}
    )
    renamed = {**CONTRACT_ORDER["customer"], "name": "Ana M. Silva"}
    place(uow, external_id="A-3", customer=renamed)

    assert first.customer_id == customer_id_for("ana@example.com")
    assert {o.customer_id for o in uow.orders.orders.values()} == {first.customer_id}
    events = customer_events(uow)
    assert [(e.name, e.email) for e in events] == [
        ("Ana Silva", "ana@example.com"),
        ("Ana M. Silva", "ana@example.com"),
    ]
    versions = [
        e.aggregate_version for e in uow.committed_events if e.event_type == "customer.updated"
    ]
    assert versions == [1, 2]
