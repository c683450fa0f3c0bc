"""Orders through the whole real stack: API → outbox → relay → RabbitMQ → workers → simulators,
and the WMS shipping back. Effectively once, in order, outages parked not dead-lettered."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from tests.e2e.processes import log_of, start, wait_until
from tests.e2e.stack import Stack
from tests.factories import order_doc

pytestmark = pytest.mark.e2e


@pytest.fixture
def stack(engine: sa.Engine, database_url: str, broker_url: str) -> Iterator[Stack]:
    stack = Stack(engine, database_url, broker_url)
    try:
        yield stack
    finally:
        stack.down()


def stocked(stack: Stack) -> None:
    response = stack.admin(
        "POST",
        "/v1/inventory/adjustments",
        json={"adjustments": [{"sku": s, "location": "WH-EAST", "set_on_hand": 100} for s in "AB"]},
    )
    assert response.status_code == 200, response.text


def by_type(documents: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [d for d in documents["documents"] if d["type"] == kind]


def test_orders_reach_every_system_exactly_once_and_travel_the_whole_loop(stack: Stack) -> None:
    stack.up(ship_after=0.2)
    stocked(stack)
    orders = [stack.order(order_doc(f"E2E-{i}", [("A", 1), ("B", 2)])) for i in range(10)]
    wait_until(
        lambda: len(by_type(stack.documents("erp"), "invoice")) == 10 and stack.settled(),
        90,
        "every order shipped, invoiced and every delivery applied",
    )
    erp, wms, crm = stack.documents("erp"), stack.documents("wms"), stack.documents("crm")
    channels = stack.documents("channels")
    assert len(by_type(erp, "sales_order")) == 10
    assert {d["body"]["order_ref"] for d in by_type(erp, "sales_order")} == {
        o["id"] for o in orders
    }
    assert len(by_type(wms, "fulfillment_order")) == 10  # one location each
    assert len([d for d in crm["documents"] if d["type"] == "contact"]) == 10
    assert all(d["duplicates"] == 0 for s in (erp, wms, crm) for d in s["documents"])
    statuses = [d["body"]["status"] for d in channels["documents"] if d["type"] == "order_status"]
    assert statuses.count("acknowledged") == 10 and statuses.count("shipped") == 10

    with stack.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM dead_letters")).scalar_one() == 0
        fulfilled = conn.execute(
            sa.text("SELECT count(*) FROM orders WHERE status = 'fulfilled'")
        ).scalar_one()
    assert fulfilled == 10
    ledger = stack.admin("GET", f"/v1/orders/{orders[0]['id']}/deliveries").json()["destinations"]
    assert [d["event_type"] for d in ledger["erp"]] == ["order.accepted", "shipment.dispatched"]
    assert all(d["status"] == "applied" for rows in ledger.values() for d in rows)


def test_a_worker_killed_while_handling_is_redelivered_and_applied_once(stack: Stack) -> None:
    stack.up(ship_after=None)
    stocked(stack)
    stack.faults("erp", latency_ms=400)  # the worker is mid-call when it dies
    for i in range(6):
        stack.order(order_doc(f"KILL-{i}", [("A", 1)]))
    wait_until(lambda: stack.statuses().get("applied", 0) > 0, 30, "handling to begin")
    worker = stack.processes["worker"]
    worker.send_signal(signal.SIGKILL)
    worker.wait(10)
    stack.faults("erp", latency_ms=0)
    stack.start("worker", "worker", "--threads", "4")
    wait_until(stack.settled, 90, "every delivery applied after the restart")
    sales_orders = by_type(stack.documents("erp"), "sales_order")
    assert len(sales_orders) == 6  # each applied once; a repeated call counts as a duplicate


def test_an_erp_down_longer_than_all_retries_dead_letters_nothing(stack: Stack) -> None:
    stack.up(ship_after=None)
    stocked(stack)
    stack.faults("erp", down_for_s=4)
    orders = [stack.order(order_doc(f"DOWN-{i}", [("A", 1)])) for i in range(5)]
    wait_until(lambda: stack.statuses().get("waiting", 0) > 0, 30, "ERP messages to wait")
    wait_until(stack.settled, 90, "the ERP back and everything applied")
    with stack.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM dead_letters")).scalar_one() == 0
    assert {d["body"]["order_ref"] for d in by_type(stack.documents("erp"), "sales_order")} == {
        o["id"] for o in orders
    }


def test_a_rejected_document_is_one_dead_letter_and_other_orders_flow(stack: Stack) -> None:
    stack.up(ship_after=None)
    stocked(stack)
    stack.faults("erp", reject_rate=1.0)
    rejected = stack.order(order_doc("REJECT-1", [("A", 1)]))

    def dead_letters() -> list[Any]:
        with stack.engine.connect() as conn:
            return conn.execute(sa.text("SELECT * FROM dead_letters")).all()

    wait_until(lambda: len(dead_letters()) == 1, 30, "the dead letter")
    stack.faults("erp", reject_rate=0)
    others = [stack.order(order_doc(f"OK-{i}", [("B", 1)])) for i in range(3)]
    wait_until(
        lambda: len(by_type(stack.documents("erp"), "sales_order")) == 3, 60, "the other orders"
    )
    (dead,) = dead_letters()
    assert (dead.destination, dead.aggregate_id) == ("erp", rejected["id"])
    assert "422" in dead.error or "reject" in dead.error.lower()
    assert {d["body"]["order_ref"] for d in by_type(stack.documents("erp"), "sales_order")} == {
        o["id"] for o in others
    }
    listed = start("dlq", "list", "--json", database_url=stack.database_url)
    assert listed.wait(30) == 0


def test_a_document_the_erp_always_fails_with_500_is_poison_for_its_order_only(
    stack: Stack,
) -> None:
    """The ERP is up (its health check passes) and takes every other sales order, but
    answers one order's with 500 every time: that one is a dead letter, with the ERP's
    answer recorded, and no other order waits for it (the breaker stays closed)."""
    stack.up(ship_after=None)
    stocked(stack)
    stack.faults("erp", fail_matching=["POISON-1"])
    poison = stack.order(order_doc("POISON-1", [("A", 1)]))
    others = [stack.order(order_doc(f"FLOW-{i}", [("B", 1)])) for i in range(10)]

    def dead_letters() -> list[Any]:
        with stack.engine.connect() as conn:
            return conn.execute(sa.text("SELECT * FROM dead_letters")).all()

    wait_until(
        lambda: len(by_type(stack.documents("erp"), "sales_order")) == 10,
        30,
        "every other order's sales order",
    )
    wait_until(lambda: len(dead_letters()) == 1, 60, "the one dead letter")
    (dead,) = dead_letters()
    assert (dead.destination, dead.aggregate_id) == ("erp", poison["id"])
    assert "HTTP 500" in dead.error and "health check" in dead.error
    assert {d["body"]["order_ref"] for d in by_type(stack.documents("erp"), "sales_order")} == {
        o["id"] for o in others
    }
    with stack.engine.connect() as conn:
        breaker = conn.execute(sa.text("SELECT state FROM destinations WHERE name = 'erp'"))
        assert breaker.scalar() in (None, "closed")
    listed = start("dlq", "list", "--json", database_url=stack.database_url)
    assert listed.wait(30) == 0
    assert poison["id"] in log_of(listed)
