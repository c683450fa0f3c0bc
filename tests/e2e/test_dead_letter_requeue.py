"""Requeue after a fix, through the real stack (API, relay, RabbitMQ, worker, simulators):
while the ERP rejects every document, sales orders and invoices become dead letters and
the later ERP messages of those orders park behind them; once it is fixed, one
`ordersync dlq requeue --all --yes` delivers every dead letter exactly once and then their
parked successors, in sequence order per order, and leaves nothing dead or parked."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa

from tests.e2e.processes import log_of, start, wait_until
from tests.e2e.stack import Stack, arrival_orders, delivery_keys, stocked
from tests.factories import order_doc

pytestmark = pytest.mark.e2e

ORDERS = 3  # per group: invoiced while rejected, and ordered while rejected


def ship_line_by_line(stack: Stack, order_id: str, n: int) -> None:
    """Two shipments of one line each: two invoices, two ERP messages after the order's."""
    for sku in ("A", "B"):
        shipment = {
            "order_id": order_id,
            "location": "WH-EAST",
            "carrier": "DHL",
            "tracking_number": f"T-{n}-{sku}",
            "lines": [{"sku": sku, "quantity": 1}],
        }
        response = stack.admin("POST", "/v1/shipments", json=shipment)
        assert response.status_code == 201, response.text


def erp_ledger(stack: Stack) -> list[Any]:
    with stack.engine.connect() as conn:
        return list(
            conn.execute(
                sa.text(
                    "SELECT aggregate_id, sequence, status, event_id FROM outbox_deliveries"
                    " WHERE destination = 'erp' ORDER BY aggregate_id, sequence"
                )
            )
        )


def others_settled(stack: Stack) -> bool:
    with stack.engine.connect() as conn:
        left = conn.execute(
            sa.text(
                "SELECT count(*) FROM outbox_deliveries WHERE destination <> 'erp'"
                " AND status NOT IN ('applied', 'superseded')"
            )
        ).scalar_one()
    return left == 0


def test_a_requeue_after_the_fix_delivers_each_dead_letter_once_then_its_parked_successors(
    stack: Stack,
) -> None:
    stack.up(ship_after=None)
    stocked(stack, units=100)
    lines = [("A", 1), ("B", 1)]
    invoiced = [stack.order(order_doc(f"INV-{i}", lines))["id"] for i in range(ORDERS)]
    wait_until(
        lambda: stack.documents("erp")["count"] == ORDERS, 30, "the first orders' sales orders"
    )

    stack.faults("erp", reject_rate=1.0)
    ordered = [stack.order(order_doc(f"SO-{i}", lines))["id"] for i in range(ORDERS)]
    for n, order_id in enumerate(invoiced + ordered):
        ship_line_by_line(stack, order_id, n)

    # Per order, its ERP messages #1 (sales order), #2 and #3 (the invoices).
    expected = {(o, 1): "applied" for o in invoiced} | {(o, 1): "dead" for o in ordered}
    expected |= {(o, 2): "dead" for o in invoiced} | {(o, 2): "parked" for o in ordered}
    expected |= {(o, 3): "parked" for o in invoiced + ordered}

    def poisoned() -> bool:
        statuses = {(r.aggregate_id, r.sequence): r.status for r in erp_ledger(stack)}
        return statuses == expected and others_settled(stack)

    wait_until(poisoned, 45, "the invoices and sales orders dead, the rest of the ERP's parked")
    with stack.engine.connect() as conn:
        dead = list(conn.execute(sa.text("SELECT * FROM dead_letters ORDER BY id")))
    assert sorted((d.aggregate_id, d.sequence) for d in dead) == sorted(
        [(o, 2) for o in invoiced] + [(o, 1) for o in ordered]
    )
    assert {d.destination for d in dead} == {"erp"} and all("HTTP 422" in d.error for d in dead)
    assert stack.documents("erp")["count"] == ORDERS  # the rejected ones recorded nothing

    stack.faults("erp", reject_rate=0.0)
    requeue = start("dlq", "requeue", "--all", "--yes", database_url=stack.database_url)
    assert requeue.wait(30) == 0, log_of(requeue)
    assert f"requeued {2 * ORDERS} of {2 * ORDERS} dead letters (erp: {2 * ORDERS})" in log_of(
        requeue
    )
    wait_until(stack.settled, 45, "the requeued ones and their successors applied")

    erp = stack.documents("erp")
    assert erp["duplicates"] == 0 and all(d["duplicates"] == 0 for d in erp["documents"])
    keys = delivery_keys(stack.engine)
    per_key = Counter(d["idempotency_key"] for d in erp["documents"])
    assert set(per_key.values()) == {1}
    sent = Counter((keys[k].aggregate_id, keys[k].sequence) for k in per_key)
    everything = invoiced + ordered
    assert sent == Counter((o, s) for o in everything for s in (1, 2, 3))  # each once
    arrived = arrival_orders(stack, keys)
    assert {o: arrived[("erp", o)] for o in everything} == {o: [1, 2, 3] for o in everything}
    kinds = [d["type"] for d in erp["documents"]]
    assert Counter(kinds) == {"sales_order": 2 * ORDERS, "invoice": 4 * ORDERS}

    assert {r.status for r in erp_ledger(stack)} == {"applied"}
    with stack.engine.connect() as conn:
        unresolved = conn.execute(
            sa.text("SELECT count(*) FROM dead_letters WHERE requeued_at IS NULL")
        ).scalar_one()
        (entry,) = conn.execute(
            sa.text("SELECT * FROM audit_log WHERE action = 'dlq.requeue'")
        ).all()
    assert unresolved == 0
    assert (entry.outcome, entry.counts["requeued"], entry.filter["all"]) == (
        "ok",
        2 * ORDERS,
        True,
    )
