"""The database goes away under load while workers hold messages, and comes back: every
order reaches every system once, in order, the ledger says so, and nothing of ours ends
in Dramatiq's dead-letter queues.

The API, the relay and the worker reach PostgreSQL through a proxy that the test cuts
(every connection dropped, new ones refused), so the server other tests share keeps
running. `OUTAGE_S` is 30 s; `ORDERSYNC_TEST_OUTAGE_S=600` runs a ten-minute outage by hand
(past the workers' one-minute hold, so messages go back to the broker and are held again).
"""

from __future__ import annotations

import os
import threading
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from ops.wiring import QUEUES
from tests.broker import queue_depth
from tests.e2e.processes import log_of, wait_until
from tests.e2e.stack import Stack, arrival_orders, delivery_keys
from tests.factories import order_doc
from tests.netcut import NetCut, via

pytestmark = pytest.mark.e2e

OUTAGE_S = float(os.environ.get("ORDERSYNC_TEST_OUTAGE_S", "30"))


class Load:
    """Posts orders from a thread, about ten a second, each until the API accepted it (a
    503 while the database is away is retried), until stopped; counts every answer."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.statuses: dict[int, int] = {}
        self.accepted: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        headers = {"Authorization": f"Bearer {self.stack.channel_key}"}
        with httpx.Client(base_url=self.stack.api, headers=headers, timeout=10) as client:
            i = 0
            while not self.stop.is_set():
                doc = order_doc(f"CUT-{i}", [("A", 1), ("B", 1)])
                while True:
                    try:
                        status = client.post("/v1/orders", json=doc).status_code
                    except httpx.TransportError:
                        status = 0
                    self.statuses[status] = self.statuses.get(status, 0) + 1
                    if status in (200, 201):
                        self.accepted.append(doc["external_id"])
                        break
                    self.stop.wait(0.2)
                i += 1
                self.stop.wait(0.1)


def test_a_database_outage_under_load_loses_nothing_and_keeps_order(
    engine: sa.Engine, database_url: str, broker_url: str, cut: NetCut
) -> None:
    stack = Stack(engine, via(database_url, cut), broker_url).up(ship_after=0.2)
    try:
        response = stack.admin(
            "POST",
            "/v1/inventory/adjustments",
            json={
                "adjustments": [{"sku": s, "location": "WH-EAST", "set_on_hand": 500} for s in "AB"]
            },
        )
        assert response.status_code == 200, response.text
        stack.faults("erp", latency_ms=300)  # workers are mid-call when the database goes
        load = Load(stack)
        load.thread.start()
        wait_until(lambda: stack.statuses().get("applied", 0) >= 10, 60, "deliveries to flow")

        cut.cut()
        assert cut.is_refusing()
        outage = threading.Event()
        outage.wait(OUTAGE_S)
        held = "holding" in log_of(stack.processes["worker"])
        cut.restore()
        if stack.processes["relay"].poll() is not None:
            # A relay that loses its database exits, and its supervisor (compose's restart
            # policy, systemd) starts it again; the test is that supervisor here.
            stack.start("relay", "relay")

        after = len(load.accepted)
        wait_until(lambda: len(load.accepted) >= after + 10, 120, "orders accepted again")
        load.stop.set()
        load.thread.join(30)
        orders = len(load.accepted)
        wait_until(
            lambda: len(by_type(stack.documents("erp"), "invoice")) == orders and stack.settled(),
            180,
            "every order shipped, invoiced, and every delivery applied",
        )
        assert held, "no worker held a message through the outage: the cut missed the workers"
        assert load.statuses.get(503, 0) > 0  # the API felt it too, and said so
        assert set(load.statuses) <= {200, 201, 503}, load.statuses
        erp = stack.documents("erp")
        sales_orders = by_type(erp, "sales_order")
        with engine.connect() as conn:
            order_ids = set(conn.execute(sa.text("SELECT id::text FROM orders")).scalars())
            dead = conn.execute(sa.text("SELECT count(*) FROM dead_letters")).scalar_one()
            statuses = dict(
                conn.execute(
                    sa.text("SELECT status, count(*) FROM outbox_deliveries GROUP BY status")
                ).all()
            )
        assert len(order_ids) == orders == len(set(load.accepted))
        # Once: one sales order and one invoice per order (a repeated call carries the same
        # Idempotency-Key and is answered as a replay, never stored twice).
        assert sorted(d["body"]["order_ref"] for d in sales_orders) == sorted(order_ids)
        assert len(by_type(erp, "invoice")) == orders
        assert dead == 0 and set(statuses) <= {"applied", "superseded"}
        # In order: per order and destination, the systems received strictly increasing
        # sequences (the parts of one delivery, e.g. the CRM's contact and timeline, count once).
        for (destination, aggregate), sequences in arrival_orders(
            stack, delivery_keys(engine)
        ).items():
            assert sequences == sorted(set(sequences)), (destination, aggregate, sequences)
        # Nothing in Dramatiq's own dead-letter queues.
        for queue in QUEUES:
            assert queue_depth(stack.broker_url, f"{queue}.XQ") == 0, queue
    finally:
        stack.down()


def by_type(documents: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [d for d in documents["documents"] if d["type"] == kind]
