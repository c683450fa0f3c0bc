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
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from outbox.queues import ALL_QUEUES
from tests.broker import queue_depth
from tests.e2e.processes import log_of, wait_until
from tests.e2e.stack import Stack
from tests.factories import order_doc
from tests.netcut import NetCut, via

pytestmark = pytest.mark.e2e

OUTAGE_S = float(os.environ.get("ORDERSYNC_TEST_OUTAGE_S", "30"))
ORDERS = 40


@pytest.fixture
def cut(database_url: str) -> Iterator[NetCut]:
    url = sa.make_url(database_url)
    with NetCut(url.host or "127.0.0.1", url.port or 5432) as proxy:
        yield proxy


class Load:
    """Posts orders one after another from a thread, each until the API accepted it (a 503
    while the database is away is retried), and counts the answers."""

    def __init__(self, stack: Stack, count: int) -> None:
        self.stack, self.count = stack, count
        self.statuses: dict[int, int] = {}
        self.accepted: set[str] = set()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        headers = {"Authorization": f"Bearer {self.stack.channel_key}"}
        with httpx.Client(base_url=self.stack.api, headers=headers, timeout=10) as client:
            for i in range(self.count):
                doc = order_doc(f"CUT-{i}", [("A", 1), ("B", 1)])
                while True:
                    try:
                        status = client.post("/v1/orders", json=doc).status_code
                    except httpx.TransportError:
                        status = 0
                    self.statuses[status] = self.statuses.get(status, 0) + 1
                    if status in (200, 201):
                        self.accepted.add(doc["external_id"])
                        break
                    threading.Event().wait(0.2)


def idempotency_keys(engine: sa.Engine) -> dict[str, tuple[str, str, int]]:
    """Every delivery's Idempotency-Key → (destination, aggregate, sequence)."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT event_id, destination, generation, aggregate_id, sequence"
                " FROM outbox_deliveries"
            )
        ).all()
    return {
        str(uuid.uuid5(r.event_id, f"{r.destination}/{r.generation}")): (
            r.destination,
            r.aggregate_id,
            r.sequence,
        )
        for r in rows
    }


def arrival_orders(stack: Stack, keys: dict[str, tuple[str, str, int]]) -> dict[Any, list[int]]:
    """Per (destination, aggregate): the sequences in the order the systems received them."""
    arrived: dict[Any, list[int]] = {}
    for system in ("erp", "wms", "crm", "channels"):
        for doc in stack.documents(system)["documents"]:
            destination, aggregate, sequence = keys[doc["idempotency_key"]]
            arrived.setdefault((destination, aggregate), []).append(sequence)
    return arrived


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
        load = Load(stack, ORDERS)
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

        load.thread.join(180)
        assert not load.thread.is_alive(), "the load did not finish"
        assert len(load.accepted) == ORDERS
        wait_until(
            lambda: len(by_type(stack.documents("erp"), "invoice")) == ORDERS and stack.settled(),
            180,
            "every order shipped, invoiced, and every delivery applied",
        )
        assert held, "no worker held a message through the outage: the cut missed the workers"
        assert load.statuses.get(503, 0) + load.statuses.get(0, 0) > 0  # the API felt it too
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
        assert len(order_ids) == ORDERS
        # Once: one sales order and one invoice per order (a repeated call carries the same
        # Idempotency-Key and is answered as a replay, never stored twice).
        assert sorted(d["body"]["order_ref"] for d in sales_orders) == sorted(order_ids)
        assert len(by_type(erp, "invoice")) == ORDERS
        assert dead == 0 and set(statuses) <= {"applied", "superseded"}
        # In order: per order and destination, the systems received strictly increasing sequences.
        for (destination, aggregate), sequences in arrival_orders(
            stack, idempotency_keys(engine)
        ).items():
            assert sequences == sorted(set(sequences)), (destination, aggregate, sequences)
        # Nothing in Dramatiq's own dead-letter queues.
        for queue in ALL_QUEUES:
            assert queue_depth(stack.broker_url, f"{queue}.XQ") == 0, queue
    finally:
        stack.down()


def by_type(documents: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [d for d in documents["documents"] if d["type"] == kind]
