"""A downstream system added by this test alone: a 3PL that takes a shipment request per
allocated order, declared here as one module's worth of code (documents, client, handler
table) and one registry entry, with no other file changed.

The whole loop runs on real PostgreSQL (a database of this test's own) and real RabbitMQ
(a vhost of the per-test pool): orders in through the HTTP API, the outbox, the relay,
the broker, the Dramatiq worker, the 3PL's own little server. The API, the relay and the
worker run in this process — `ordersync` processes could not see a system declared in a
test — built by the same composition-root functions the processes use, handed the
extended registry instead of the product's.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from aiohttp import web

from actors.broker import OrdersyncRabbitmqBroker
from actors.registry import Policy
from actors.systems import SYSTEMS, DownstreamSystem
from adapters.db import registry
from adapters.systems.handlers import handlers, on
from adapters.systems.http import SystemClient, reply_field
from domain.events import OrderAllocated
from ops import bootstrap
from ops.settings import load_settings
from ops.wiring import queues, routing
from ops.worker_process import start_workers
from outbox.rabbitmq_publisher import RabbitPublisher
from outbox.relay import Relay
from simulators.app import init_sim_app
from simulators.server import ServerThread
from tests.factories import order_doc

pytestmark = pytest.mark.e2e

# ---- what actors/threepl.py would hold --------------------------------------------------


def shipment_request_document(order: OrderAllocated) -> dict[str, Any]:
    """The 3PL's shipment request: what to pick where, and where it goes."""
    return {
        "order_id": order.order_id,
        "order_number": order.external_id,
        "ship_to": order.shipping_address,
        "lines": [
            {"sku": r.sku, "quantity": r.quantity, "pick_from": r.location}
            for r in order.reservations
        ],
    }


class ThreePlClient(SystemClient):
    default_system = "threepl"

    def request_shipment(self, order: OrderAllocated, *, idempotency_key: str) -> str:
        """Ask the 3PL to ship an allocated order; its request id."""
        reply = self.post(
            "shipment-requests", shipment_request_document(order), idempotency_key=idempotency_key
        )
        return reply_field(self.system, reply, "request_id")


HANDLERS = handlers(on(OrderAllocated, ThreePlClient.request_shipment))

# ---- and its registry line (a registry of this test's own: the product's is untouched) --

SYSTEMS_WITH_3PL = SYSTEMS.plus(DownstreamSystem("threepl", ThreePlClient, HANDLERS, "/threepl"))

# ---- the 3PL itself: a tiny server that records what it receives ------------------------


@dataclass
class ThreePl:
    """Answers its first request with a 503 (so a retry sends the same key again), then
    accepts each Idempotency-Key once and answers a repeat with the same reply."""

    calls: list[str] = field(default_factory=list)  # every key that arrived, in order
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)  # key → body
    lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/threepl/shipment-requests", self.shipment_request)
        app.router.add_get("/threepl/health", self.health)
        return app

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def shipment_request(self, request: web.Request) -> web.Response:
        key = request.headers["Idempotency-Key"]
        body = await request.json()
        with self.lock:
            self.calls.append(key)
            if len(self.calls) == 1:
                return web.json_response({"detail": "warming up"}, status=503)
            if key in self.accepted:
                number = list(self.accepted).index(key) + 1
                return web.json_response({"request_id": f"SR-{number}"})
            self.accepted[key] = body
            return web.json_response({"request_id": f"SR-{len(self.accepted)}"}, status=201)


@pytest.fixture
def threepl() -> Iterator[tuple[ThreePl, str]]:
    server = ThreePl()
    with ServerThread(server.app()) as thread:
        yield server, thread.url


@pytest.fixture
def simulators() -> Iterator[str]:
    with ServerThread(init_sim_app(seed=3)) as thread:
        yield thread.url


ADMIN = "new-system-admin-token-0123"
ORDERS = 6


def ledger(engine: sa.Engine) -> list[Any]:
    query = sa.text(
        "SELECT d.destination, d.status, d.event_id, e.event_type, e.aggregate_id "
        "FROM outbox_deliveries d JOIN outbox_events e USING (event_id)"
    )
    with engine.connect() as conn:
        return list(conn.execute(query).all())


async def settled(engine: sa.Engine, timeout_s: float = 60) -> list[Any]:
    """The ledger once every delivery is applied (or superseded: stock figures)."""
    rows: list[Any] = []
    for _ in range(int(timeout_s * 10)):
        rows = await asyncio.to_thread(ledger, engine)
        if rows and all(r.status in ("applied", "superseded") for r in rows):
            return rows
        await asyncio.sleep(0.1)
    pending = sorted({(r.destination, r.status) for r in rows})
    raise AssertionError(f"not settled after {timeout_s}s: {pending}")


async def test_a_system_declared_in_a_test_receives_each_of_its_documents_once(
    database_url: str,
    broker_url: str,
    threepl: tuple[ThreePl, str],
    simulators: str,
) -> None:
    server, threepl_url = threepl
    settings = load_settings(
        systems=SYSTEMS_WITH_3PL,
        database_url=database_url,
        broker_url=broker_url,
        admin_token=ADMIN,
        probe_interval_s=0.5,
    )
    urls = {**SYSTEMS.urls_at(simulators), "threepl": f"{threepl_url}/threepl"}
    settings = settings.model_copy(update={"system_urls": urls})
    engine = bootstrap.engine_for(settings)
    with engine.begin() as conn:
        channel_key = registry.add_channel(
            conn,
            "web",
            "canonical",
            api_url=f"{simulators}/channels/web",
            rate_limit_per_minute=0,
        )

    broker = OrdersyncRabbitmqBroker(url=broker_url, confirm_delivery=True)
    policy = Policy(min_backoff_ms=50, max_backoff_ms=200)
    worker, clients, probe_stop = start_workers(
        settings, engine, broker, threads=4, policy=policy, systems=SYSTEMS_WITH_3PL
    )
    relay = Relay(
        engine, RabbitPublisher(broker_url), queues=queues(SYSTEMS_WITH_3PL), idle_poll_max=0.05
    )
    stop = threading.Event()
    relay_thread = threading.Thread(target=relay.run, args=(stop,), name="test-relay")
    relay_thread.start()
    runner = web.AppRunner(bootstrap.http_app(settings, engine, routing=routing(SYSTEMS_WITH_3PL)))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    order_ids = set()
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
            stock = {"sku": "TEE", "location": "WH-EAST", "set_on_hand": 100, "reason": "t"}
            async with http.post(
                "/v1/inventory/adjustments",
                json={"adjustments": [stock]},
                headers={"Authorization": f"Bearer {ADMIN}"},
            ) as response:
                assert response.status == 200, await response.text()
            headers = {"Authorization": f"Bearer {channel_key}"}
            for n in range(ORDERS):
                doc = order_doc(f"WEB-{n}", [("TEE", 1 + n % 2)])
                for expected in (201, 200):  # sent twice, as channels do: stored once
                    async with http.post("/v1/orders", json=doc, headers=headers) as response:
                        body = await response.json()
                        assert response.status == expected, body
                order_ids.add(body["id"])
        rows = await settled(engine)
    finally:
        await runner.cleanup()
        stop.set()
        probe_stop.set()
        worker.stop()
        relay_thread.join(30)
        clients.close()
        broker.close()

    # The 3PL got one shipment request per allocated order, each once, under the key of
    # its delivery; the 503 made the worker send the first one again, with the same key.
    mine = [r for r in rows if r.destination == "threepl"]
    assert len(mine) == ORDERS
    assert {r.event_type for r in mine} == {"order.allocated"}
    assert {r.status for r in mine} == {"applied"}
    keys = {str(uuid.uuid5(r.event_id, "threepl/0")) for r in mine}
    assert set(server.accepted) == keys
    assert len(server.calls) == ORDERS + 1
    assert server.calls.count(server.calls[0]) == 2
    assert {body["order_id"] for body in server.accepted.values()} == order_ids
    assert all(body["lines"][0]["pick_from"] == "WH-EAST" for body in server.accepted.values())

    # The product's systems and the channel still got theirs, every one applied.
    by_destination: dict[str, set[str]] = {}
    for row in rows:
        by_destination.setdefault(row.destination, set()).add(row.event_type)
    assert by_destination == {
        "erp": {"order.accepted"},
        "wms": {"order.allocated"},
        "crm": {"order.accepted", "customer.updated"},
        "threepl": {"order.allocated"},
        "channel:web": {"order.accepted", "inventory.changed"},
    }
    async with aiohttp.ClientSession(simulators) as sim:
        counts = {}
        for system in ("erp", "wms", "crm"):
            async with sim.get(f"/_sim/{system}/documents") as response:
                counts[system] = (await response.json())["count"]
    # The CRM: a contact and a timeline entry per order, and the one customer's contact.
    assert counts == {"erp": ORDERS, "wms": ORDERS, "crm": 2 * ORDERS + 1}
    engine.dispose()
