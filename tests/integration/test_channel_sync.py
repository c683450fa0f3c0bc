"""domain/channel_sync.py over real PostgreSQL: what every channel kind's commands do —
orders by business version (concurrent appliers of one order included), orders fulfilled
by the channel, shipments, refunds with restock, cancel requests — each in one
transaction with the version that decided it."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from adapters.db import registry
from adapters.db.uow import SqlUnitOfWork
from domain.channel_commands import (
    ChannelCancelRequest,
    ChannelCommand,
    ChannelOrder,
    ChannelRefund,
    ChannelRefundLine,
    ChannelShipment,
    ChannelShipmentLine,
    PosSale,
    PosSaleLine,
)
from domain.channel_order_sync import Applied, CannotApply
from domain.channel_sync import apply_delivery
from domain.commands import AdjustInventory, PlaceOrder
from domain.services import adjust_inventory
from ops.wiring import ROUTING
from tests.factories import order_doc

T0 = datetime(2026, 11, 26, 10, tzinfo=UTC)


@pytest.fixture
def shop(engine: sa.Engine) -> str:
    with engine.begin() as conn:
        registry.add_channel(conn, "shop", "shopify")
        registry.add_location(conn, "WH-EAST", "warehouse", 10)
        registry.add_location(conn, "WH-WEST", "warehouse", 20)
    adjust_inventory(
        SqlUnitOfWork(engine, routing=ROUTING),
        AdjustInventory.model_validate(
            {"adjustments": [{"sku": "A", "location": "WH-EAST", "set_on_hand": 10}]}
        ),
    )
    return "shop"


def apply(engine: sa.Engine, *commands: ChannelCommand, channel: str = "shop") -> Applied:
    with SqlUnitOfWork(engine, routing=ROUTING, caller=f"channel:{channel}") as uow:
        outcome = apply_delivery(uow, commands, channel=channel)
        uow.commit()
    return outcome


def channel_order(
    external_id: str = "S-1", quantity: int = 2, at: datetime = T0, **flags: Any
) -> ChannelOrder:
    placed = PlaceOrder.model_validate(order_doc(external_id, [("A", quantity)]))
    # A paid order (captured up front by the channel): shipments capture it.
    placed = placed.model_copy(
        update={"payment": placed.payment.model_copy(update={"status": "paid"})}  # type: ignore[union-attr]
    )
    return ChannelOrder(order=placed, version_at=at, **flags)


def rows(engine: sa.Engine, sql: str, **params: Any) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text(sql), params))


def on_hand(engine: sa.Engine, sku: str = "A") -> tuple[int, int]:
    [(hand, held)] = rows(
        engine, "SELECT sum(on_hand), sum(reserved) FROM stock WHERE sku = :s", s=sku
    )
    return int(hand), int(held)


def events_of(engine: sa.Engine, order_id: Any) -> list[str]:
    return [
        r.event_type
        for r in rows(
            engine,
            "SELECT event_type FROM outbox_events WHERE aggregate_id = :o ORDER BY id",
            o=str(order_id),
        )
    ]


def test_an_order_fulfilled_by_the_channel_reserves_nothing_and_waits_for_no_stock(
    engine: sa.Engine, shop: str
) -> None:
    outcome = apply(engine, channel_order(quantity=3, reserve_stock=False))
    assert outcome.state == "applied"
    [order] = rows(engine, "SELECT status, fulfilled_by_channel FROM orders")
    assert (order.status, order.fulfilled_by_channel) == ("placed", True)
    assert on_hand(engine) == (10, 0)
    assert events_of(engine, outcome.order_id) == ["order.accepted"]
    # Stock arriving fills no backorder of it.
    adjust_inventory(
        SqlUnitOfWork(engine, routing=ROUTING),
        AdjustInventory.model_validate(
            {"adjustments": [{"sku": "A", "location": "WH-WEST", "set_on_hand": 4}]}
        ),
    )
    assert on_hand(engine) == (14, 0)
    shipped = ChannelShipment(
        external_id="S-1",
        shipment_ref="F-1",
        carrier="AMZL",
        tracking_number="TBA1",
        lines=[ChannelShipmentLine(sku="A", quantity=3)],
    )
    assert apply(engine, shipped).state == "ignored"
    assert apply(engine, ChannelCancelRequest(external_id="S-1")).state == "applied"
    assert rows(engine, "SELECT status FROM orders")[0].status == "cancelled"
    assert events_of(engine, outcome.order_id) == ["order.accepted", "order.cancelled"]


def test_a_shipment_by_the_channel_is_recorded_where_its_units_are_reserved_once(
    engine: sa.Engine, shop: str
) -> None:
    placed = apply(engine, channel_order())
    shipped = ChannelShipment(
        external_id="S-1",
        shipment_ref="F-1",
        carrier="DHL",
        tracking_number="JD01",
        lines=[ChannelShipmentLine(sku="A", quantity=2)],
    )
    assert apply(engine, shipped).state == "applied"
    assert apply(engine, shipped).state == "stale"
    [order] = rows(engine, "SELECT status, captured_minor FROM orders")
    assert order.status == "fulfilled" and order.captured_minor > 0
    assert [r.location for r in rows(engine, "SELECT location FROM shipments")] == ["WH-EAST"]
    assert on_hand(engine) == (8, 0)
    assert "shipment.dispatched" in events_of(engine, placed.order_id)


def test_a_refund_cancels_unshipped_units_and_returns_restocked_shipped_ones(
    engine: sa.Engine, shop: str
) -> None:
    placed = apply(engine, channel_order(quantity=4))
    part = ChannelShipment(
        external_id="S-1",
        shipment_ref="F-1",
        carrier="DHL",
        tracking_number="JD01",
        lines=[ChannelShipmentLine(sku="A", quantity=2)],
    )
    apply(engine, part)
    assert on_hand(engine) == (8, 2)
    refund = ChannelRefund(
        external_id="S-1",
        transaction_id="R-1",
        amount=Decimal("40.00"),
        lines=[
            ChannelRefundLine(line_no=1, quantity=3, restock_location="WH-EAST"),
        ],
    )
    assert apply(engine, refund).state == "applied"
    # 2 unshipped units cancelled (their reservations released), 1 shipped unit returned
    # and received back on hand.
    assert on_hand(engine) == (9, 0)
    [line] = rows(engine, "SELECT cancelled, shipped, returned FROM order_lines")
    assert (line.cancelled, line.shipped, line.returned) == (2, 2, 1)
    refunds = rows(engine, "SELECT transaction_id, kind FROM refunds ORDER BY created_at")
    assert [(r.transaction_id, r.kind) for r in refunds] == [("R-1", "return")]
    assert apply(engine, refund).state == "stale"
    assert events_of(engine, placed.order_id)[-3:] == [
        "return.opened",
        "return.received",
        "refund.recorded",
    ]


def test_an_amount_refund_is_goodwill_plus_shipping(engine: sa.Engine, shop: str) -> None:
    apply(engine, channel_order())
    apply(
        engine,
        ChannelShipment(
            external_id="S-1",
            shipment_ref="F-1",
            carrier="DHL",
            tracking_number="JD01",
            lines=[ChannelShipmentLine(sku="A", quantity=2)],
        ),
    )
    refund = ChannelRefund(
        external_id="S-1", transaction_id="R-9", amount=Decimal("7.90"), shipping=Decimal("4.90")
    )
    assert apply(engine, refund).state == "applied"
    refunds = rows(engine, "SELECT transaction_id, kind, amount_minor FROM refunds ORDER BY kind")
    assert [(r.transaction_id, r.kind, r.amount_minor) for r in refunds] == [
        ("R-9", "goodwill", 300),
        ("R-9:1", "shipping", 490),
    ]


def test_a_cancel_request_cancels_what_has_not_shipped_and_then_nothing(
    engine: sa.Engine, shop: str
) -> None:
    apply(engine, channel_order())
    request = ChannelCancelRequest(external_id="S-1", reason="buyer changed their mind")
    done = apply(engine, request)
    assert done.state == "applied"
    assert apply(engine, request) == Applied(
        "ignored", "S-1", done.order_id, "nothing left to cancel"
    )
    assert on_hand(engine) == (10, 0)


@pytest.mark.parametrize(
    "command",
    [
        ChannelCancelRequest(external_id="NOT-YET"),
        ChannelRefund(external_id="NOT-YET", transaction_id="R", amount=Decimal(1)),
    ],
)
def test_a_command_for_an_order_not_here_yet_cannot_apply(
    engine: sa.Engine, shop: str, command: ChannelCommand
) -> None:
    with pytest.raises(CannotApply, match="no order 'NOT-YET' of channel shop"):
        apply(engine, command)


def sale() -> PosSale:
    return PosSale(
        sale_id="P-1",
        location="WH-EAST",
        sold_at=T0,
        currency="EUR",
        lines=[PosSaleLine(sku="A", quantity=1, unit_price=Decimal("10.00"))],
    )


def test_a_pos_sale_through_a_door_is_applied_once(engine: sa.Engine, shop: str) -> None:
    first = apply(engine, sale())
    again = apply(engine, sale())
    assert (first.state, again.state) == ("applied", "stale")
    assert first.order_id == again.order_id
    assert rows(engine, "SELECT status FROM orders")[0].status == "fulfilled"
    assert on_hand(engine) == (9, 0)


def test_a_kind_without_an_applier_is_refused_by_name(engine: sa.Engine, shop: str) -> None:
    with (
        SqlUnitOfWork(engine, routing=ROUTING) as uow,
        pytest.raises(CannotApply, match="'pos_sale' delivery has no applier"),
    ):
        apply_delivery(uow, [sale()], channel="shop", appliers={})
    assert rows(engine, "SELECT count(*) AS n FROM orders")[0].n == 0


def test_versions_decide_and_a_rolled_back_apply_leaves_no_version(
    engine: sa.Engine, shop: str
) -> None:
    assert apply(engine, channel_order(quantity=2, at=T0 + timedelta(seconds=5))).state == "applied"
    assert apply(engine, channel_order(quantity=1, at=T0)).state == "stale"
    with pytest.raises(CannotApply, match="higher quantity"):
        apply(engine, channel_order(quantity=3, at=T0 + timedelta(seconds=9)))
    [version] = rows(engine, "SELECT version_at FROM channel_order_versions")
    assert version.version_at == T0 + timedelta(seconds=5)
    assert (
        apply(engine, channel_order(quantity=1, at=T0 + timedelta(seconds=10))).state == "applied"
    )
    assert on_hand(engine) == (10, 1)


def test_concurrent_versions_of_one_new_order_make_one_order_in_the_newest_state(
    engine: sa.Engine, shop: str
) -> None:
    """Two appliers at once, the newer and the older version of an order not seen before:
    both reach the version upsert (a barrier holds them there); its key makes the second
    wait for the first, whichever it is, so the result is the newest version either way."""
    barrier, reached = threading.Barrier(2, timeout=10), []

    def at_upsert(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "INSERT INTO channel_order_versions" in statement:
            reached.append(1)
            barrier.wait()

    commands: Sequence[ChannelOrder] = (
        channel_order(quantity=1, at=T0 + timedelta(seconds=3)),
        channel_order(quantity=2, at=T0),
    )
    sa.event.listen(engine, "before_cursor_execute", at_upsert)
    try:
        with ThreadPoolExecutor(2) as pool:
            outcomes = list(pool.map(lambda c: apply(engine, c), commands))
    finally:
        sa.event.remove(engine, "before_cursor_execute", at_upsert)
    assert len(reached) == 2
    assert sorted(o.state for o in outcomes) in (["applied", "stale"], ["applied", "applied"])
    [order] = rows(engine, "SELECT id FROM orders")
    [line] = rows(engine, "SELECT quantity - cancelled AS live FROM order_lines")
    assert line.live == 1
    assert on_hand(engine) == (10, 1)
    assert len({o.order_id for o in outcomes if o.order_id}) == 1 == len([order])
