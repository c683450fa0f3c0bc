"""Returns: opened for shipped units only, received once with a disposition per line
(restock: back on hand and the backorder fill; damaged: no stock)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from domain.commands import AdjustInventory, OpenReturn, PlaceOrder, ReceiveReturn, RecordShipment
from domain.errors import Conflict, Forbidden, NotFound, ValidationFailed
from domain.events import OrderAllocated, ReturnOpened, ReturnReceived
from domain.orders import Order
from domain.returning import open_return, receive_return
from domain.returns import Return
from domain.services import adjust_inventory, place_order
from domain.shipping import record_shipment
from domain.status import OrderStatus
from tests.factories import order_doc
from tests.unit.fakes import FakeUnitOfWork


@pytest.fixture
def uow() -> FakeUnitOfWork:
    uow = FakeUnitOfWork()
    uow.inventory.seed("A", "WH", 0, priority=10)
    uow.inventory.seed("B", "WH", 0, priority=10)
    return uow


def shipped_order(uow: FakeUnitOfWork, **lines: int) -> Order:
    """An order of `lines`, each stocked and shipped in full from WH."""
    adjust_inventory(
        uow,
        AdjustInventory.model_validate(
            {"adjustments": [{"sku": s, "location": "WH", "delta": q} for s, q in lines.items()]}
        ),
    )
    cmd = PlaceOrder.model_validate(order_doc(f"R-{uuid.uuid4()}", list(lines.items())))
    order, _ = place_order(uow, cmd, channel="web")
    shipment = RecordShipment.model_validate(
        {
            "order_id": str(order.id),
            "location": "WH",
            "carrier": "DHL",
            "tracking_number": str(uuid.uuid4()),
            "lines": [{"sku": s, "quantity": q} for s, q in lines.items()],
        }
    )
    record_shipment(uow, shipment)
    return uow.stored(order.id)


def opened(uow: FakeUnitOfWork, order: Order, *lines: tuple[int, int], **kw: Any) -> Return:
    cmd = OpenReturn.model_validate(
        {"lines": [{"line_no": n, "quantity": q} for n, q in lines], "reason": "too small"}
    )
    return open_return(uow, order.id, cmd, **kw)


def receipt(location: str, *lines: tuple[int, int, str]) -> ReceiveReturn:
    return ReceiveReturn.model_validate(
        {
            "location": location,
            "lines": [{"line_no": n, "quantity": q, "disposition": d} for n, q, d in lines],
        }
    )


def test_a_return_counts_its_units_on_the_lines_and_tells_the_wms_and_the_channel(
    uow: FakeUnitOfWork,
) -> None:
    order = shipped_order(uow, A=3, B=1)

    ret = opened(uow, order, (1, 1), (1, 1))  # line 1 named twice: 2 units

    stored = uow.stored(order.id)
    assert [(ln.sku, ln.returned) for ln in stored.lines] == [("A", 2), ("B", 0)]
    assert stored.version == order.version + 1
    assert stored.status is OrderStatus.FULFILLED  # a return does not move the order
    assert uow.returns.returns[ret.id].lines == ret.lines
    assert [(x.line_no, x.sku, x.quantity) for x in ret.lines] == [(1, "A", 2)]
    event = uow.committed_events[-1]
    assert isinstance(event.payload, ReturnOpened)
    assert (event.aggregate_version, event.channel) == (stored.version, "web")
    assert event.payload.return_id == str(ret.id)
    assert uow.changes.entries[-1]["command"] == "return"


def test_no_line_returns_more_than_was_shipped_less_what_is_already_returned(
    uow: FakeUnitOfWork,
) -> None:
    order = shipped_order(uow, A=3, B=1)
    opened(uow, order, (1, 2))
    commits = uow.commits

    with pytest.raises(Conflict, match=r"line 1 \(A\)") as refused:
        opened(uow, order, (2, 1), (1, 2))  # line 2 fits; line 1 has only 1 left

    assert refused.value.extra == {"line_no": 1}
    assert uow.commits == commits
    assert [ln.returned for ln in uow.stored(order.id).lines] == [2, 0]
    assert len(uow.returns.returns) == 1


def test_an_unshipped_unit_cannot_be_returned(uow: FakeUnitOfWork) -> None:
    uow.inventory.seed("A", "WH", 5)
    cmd = PlaceOrder.model_validate(order_doc("U-1", [("A", 2)]))
    order, _ = place_order(uow, cmd, channel="web")

    with pytest.raises(Conflict, match="0 shipped"):
        opened(uow, order, (1, 1))


def test_an_unknown_line_is_invalid_and_another_channels_order_is_not_found(
    uow: FakeUnitOfWork,
) -> None:
    order = shipped_order(uow, A=1)

    with pytest.raises(ValidationFailed) as invalid:
        opened(uow, order, (1, 1), (7, 1))
    assert invalid.value.extra["errors"] == [
        {"field": "lines.1.line_no", "message": "no such line"}
    ]
    with pytest.raises(Forbidden):
        opened(uow, order, (1, 1), channel="pos")
    assert opened(uow, order, (1, 1), channel="web").order_id == order.id


def test_a_restocked_receipt_puts_units_back_and_fills_the_oldest_backorder(
    uow: FakeUnitOfWork,
) -> None:
    order = shipped_order(uow, A=2)
    ret = opened(uow, order, (1, 2))
    waiting, _ = place_order(
        uow, PlaceOrder.model_validate(order_doc("WAIT-1", [("A", 1)])), channel="web"
    )
    assert waiting.status is OrderStatus.BACKORDERED
    seen = len(uow.committed_events)

    received, created = receive_return(
        uow, ret.id, receipt("STORE", (1, 1, "restock"), (1, 1, "damaged"))
    )

    assert created and received.status == "received" and received.location == "STORE"
    assert [(x.quantity, x.disposition) for x in received.received or []] == [
        (1, "damaged"),
        (1, "restock"),
    ]
    # One unit back on hand at STORE (created for it), reserved at once for the backorder.
    lv = uow.inventory.level("A", "STORE")
    assert (lv.on_hand, lv.reserved) == (1, 1)
    assert uow.stored(waiting.id).status is OrderStatus.ALLOCATED
    # ATP is 0 before and after (the unit went straight to the backorder): no stock event.
    types = [e.event_type for e in uow.committed_events[seen:]]
    assert types == ["return.received", "order.allocated"]
    [allocated] = [
        e.payload for e in uow.committed_events[seen:] if isinstance(e.payload, OrderAllocated)
    ]
    assert allocated.order_id == str(waiting.id)
    [event] = [e for e in uow.committed_events[seen:] if isinstance(e.payload, ReturnReceived)]
    assert event.aggregate_id == str(order.id) and event.payload.location == "STORE"
    assert [c["command"] for c in uow.changes.entries[-2:]] == ["receive", "fill"]
    # The returned order and the filled one were locked together, in id order.
    assert uow.orders.locked[-1] == sorted([order.id, waiting.id])


def test_a_damaged_receipt_changes_no_stock_and_fills_nothing(uow: FakeUnitOfWork) -> None:
    order = shipped_order(uow, A=1)
    ret = opened(uow, order, (1, 1))
    place_order(uow, PlaceOrder.model_validate(order_doc("WAIT-2", [("A", 1)])), channel="web")
    levels = dict(uow.inventory.levels)

    receive_return(uow, ret.id, receipt("WH", (1, 1, "damaged")))

    assert uow.inventory.levels == levels
    assert uow.event_types()[-1] == "return.received"


def test_a_receipt_again_with_the_same_content_writes_nothing_and_other_content_conflicts(
    uow: FakeUnitOfWork,
) -> None:
    order = shipped_order(uow, A=2)
    ret = opened(uow, order, (1, 2))
    receive_return(uow, ret.id, receipt("WH", (1, 1, "restock"), (1, 1, "damaged")))
    commits, on_hand = uow.commits, uow.inventory.level("A", "WH").on_hand

    # The same content in another order of entries, split differently: a repeat.
    again, created = receive_return(
        uow, ret.id, receipt("WH", (1, 1, "damaged"), (1, 1, "restock"))
    )
    assert not created and again.status == "received"
    for other in (
        receipt("WH", (1, 2, "restock")),
        receipt("STORE", (1, 1, "restock"), (1, 1, "damaged")),
    ):
        with pytest.raises(Conflict):
            receive_return(uow, ret.id, other)
    assert (uow.commits, uow.inventory.level("A", "WH").on_hand) == (commits, on_hand)


def test_a_receipt_beyond_the_return_is_refused_whole(uow: FakeUnitOfWork) -> None:
    order = shipped_order(uow, A=3, B=1)
    ret = opened(uow, order, (1, 2), (2, 1))
    on_hand = uow.inventory.level("A", "WH").on_hand

    with pytest.raises(Conflict, match="line 1: 3 received, the return has 2"):
        receive_return(
            uow, ret.id, receipt("WH", (2, 1, "restock"), (1, 2, "restock"), (1, 1, "damaged"))
        )
    with pytest.raises(ValidationFailed):
        receive_return(uow, ret.id, receipt("WH", (3, 1, "restock")))
    with pytest.raises(NotFound):
        receive_return(uow, uuid.uuid4(), receipt("WH", (1, 1, "restock")))

    assert uow.returns.returns[ret.id].status == "open"
    assert uow.inventory.level("A", "WH").on_hand == on_hand
