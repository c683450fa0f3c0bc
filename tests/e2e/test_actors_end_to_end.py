"""Orders through the whole real stack: API → outbox → relay → RabbitMQ → workers → simulators,
and the WMS shipping back. Effectively once, in order, outages parked not dead-lettered."""

from __future__ import annotations

import json
import re
import signal
from collections import Counter
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


def keyed(documents: dict[str, Any], kind: str, *fields: str) -> Counter[tuple[Any, ...]]:
    """How many documents of a kind the system holds per value of the body's fields."""
    return Counter(tuple(d["body"][f] for f in fields) for d in by_type(documents, kind))


def dead_letters_listed(output: str) -> list[dict[str, Any]]:
    """What `ordersync dlq list --json` printed: one JSON array (its log, if any, aside)."""
    found = re.search(r"^\[", output, re.MULTILINE)
    assert found, output
    listed, _ = json.JSONDecoder().raw_decode(output[found.start() :])
    assert isinstance(listed, list), output
    return listed


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
    systems = {"erp": erp, "wms": wms, "crm": crm, "channels": channels}
    ids = [o["id"] for o in orders]
    once = Counter((i,) for i in ids)  # each order's id exactly once, and no other
    # Every system, the channel included: one document per order and kind, nothing else.
    assert keyed(erp, "sales_order", "order_ref") == once
    assert keyed(erp, "invoice", "order_ref") == once
    assert keyed(wms, "fulfillment_order", "order_id") == once  # one location each
    assert keyed(crm, "timeline_entry", "order_id") == once
    # One customer: a contact upsert per order, and one for the customer made by the first.
    assert len(by_type(crm, "contact")) == 11
    assert [d["body"].get("customer_id") for d in by_type(crm, "contact")].count(None) == 10
    assert keyed(channels, "order_status", "order_id", "status") == Counter(
        {(i, status): 1 for i in ids for status in ("acknowledged", "shipped")}
    )
    assert {d["channel"] for d in channels["documents"]} == {"web"}
    kinds = {s: {d["type"] for d in docs["documents"]} for s, docs in systems.items()}
    assert kinds == {
        "erp": {"sales_order", "invoice"},
        "wms": {"fulfillment_order"},
        "crm": {"contact", "timeline_entry"},
        "channels": {"order_status", "inventory"},
    }
    for system, docs in systems.items():
        keys = Counter(d["idempotency_key"] for d in docs["documents"])
        assert set(keys.values()) == {1}, (system, keys.most_common(3))
        assert [d for d in docs["documents"] if d["duplicates"]] == [], system
    # In order (documents are listed as received): per order, the sales order before its
    # invoice and the acknowledgement before the shipment; per SKU, the channel's stock
    # figures only go down (each order takes some; shipping takes what was reserved), the
    # last one being the ATP now.
    for i in ids:
        assert [d["type"] for d in erp["documents"] if d["body"]["order_ref"] == i] == [
            "sales_order",
            "invoice",
        ], i
        statuses = [
            d["body"]["status"]
            for d in by_type(channels, "order_status")
            if d["body"]["order_id"] == i
        ]
        assert statuses == ["acknowledged", "shipped"], i
    for sku, atp in (("A", 90), ("B", 80)):
        figures = [
            d["body"]["available"]
            for d in by_type(channels, "inventory")
            if d["body"]["sku"] == sku
        ]
        assert figures and figures == sorted(figures, reverse=True), (sku, figures)
        assert figures[-1] == atp, (sku, figures)
        assert stack.admin("GET", f"/v1/inventory/{sku}").json()["atp"] == atp

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
    orders = [stack.order(order_doc(f"KILL-{i}", [("A", 1)])) for i in range(6)]
    wait_until(lambda: stack.statuses().get("applied", 0) > 0, 30, "handling to begin")
    worker = stack.processes["worker"]
    worker.send_signal(signal.SIGKILL)
    worker.wait(10)
    stack.faults("erp", latency_ms=0)
    stack.start("worker", "worker", "--threads", "4")
    wait_until(stack.settled, 90, "every delivery applied after the restart")
    # Each order's sales order applied once (a repeated call counts as a duplicate of it,
    # not as a second document), none lost with the killed worker.
    assert keyed(stack.documents("erp"), "sales_order", "order_ref") == Counter(
        (o["id"],) for o in orders
    )


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
            return list(conn.execute(sa.text("SELECT * FROM dead_letters ORDER BY id")).all())

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
    assert dead_letters_listed(log_of(listed)) == [
        {
            "id": dead.id,
            "destination": "erp",
            "event_type": "order.accepted",
            "aggregate_type": "order",
            "aggregate_id": rejected["id"],
            "sequence": 1,
            "attempts": dead.attempts,
            "error_class": "rejected",
            "error": dead.error,
            "created_at": str(dead.created_at),
            "state": "unresolved",
        }
    ]


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
            return list(conn.execute(sa.text("SELECT * FROM dead_letters ORDER BY id")).all())

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
    assert [
        (d["destination"], d["event_type"], d["aggregate_id"], d["error"])
        for d in dead_letters_listed(log_of(listed))
    ] == [("erp", "order.accepted", poison["id"], dead.error)]
