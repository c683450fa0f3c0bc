"""The simulators over real HTTP: idempotency, faults, inspection, CRM upserts, WMS ship-back."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from simulators.app import init_sim_app
from simulators.keys import SIM

pytestmark = pytest.mark.integration

ClientFactory = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]


def sales_order(ref: str = "o-1", channel: str = "web") -> dict[str, Any]:
    return {
        "order_ref": ref,
        "order_number": "WEB-10001",
        "channel": channel,
        "currency": "EUR",
        "customer": {"email": "ana@example.com", "name": "Ana Silva"},
        "lines": [
            {
                "line_no": 1,
                "sku": "TEE-M-BLK",
                "quantity": 2,
                "unit_price": "19.90",
                "discount": "0.00",
                "tax": "9.15",
            }
        ],
        "totals": {"grand_total": "54.98"},
    }


def fulfillment_order(location: str = "WH-EAST", *locations: str) -> dict[str, Any]:
    return {
        "order_id": "o-1",
        "order_number": "WEB-10001",
        "channel": "web",
        "location": location,
        "allocation_locations": [location, *locations],
        "ship_to": {
            "name": "Ana Silva",
            "line1": "Rua Augusta 1",
            "city": "Lisboa",
            "country": "PT",
        },
        "lines": [{"line_no": 1, "sku": "TEE-M-BLK", "quantity": 2}],
    }


def key(value: str) -> dict[str, str]:
    return {"Idempotency-Key": value}


@pytest.fixture
async def sim(aiohttp_client: ClientFactory) -> TestClient[Any, Any]:
    return await aiohttp_client(init_sim_app(seed=1))


async def documents(client: TestClient[Any, Any], system: str) -> dict[str, Any]:
    response = await client.get(f"/_sim/{system}/documents")
    assert response.status == 200
    return dict(await response.json())


async def faults(client: TestClient[Any, Any], system: str, **settings: Any) -> None:
    response = await client.post(f"/_sim/{system}/faults", json=settings)
    assert response.status == 200, await response.text()


async def eventually(check: Callable[[], Awaitable[bool]], timeout_s: float = 3.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_the_same_key_twice_gets_the_first_answer_and_counts_a_duplicate(
    sim: TestClient[Any, Any],
) -> None:
    first = await sim.post("/erp/sales-orders", json=sales_order(), headers=key("k-1"))
    again = await sim.post("/erp/sales-orders", json=sales_order(), headers=key("k-1"))

    assert first.status == again.status == 201
    assert await first.read() == await again.read()
    assert again.headers["Idempotent-Replayed"] == "true"
    seen = await documents(sim, "erp")
    assert (seen["count"], seen["duplicates"]) == (1, 1)
    assert seen["documents"][0]["duplicates"] == 1


async def test_the_inspection_has_the_documented_shape(sim: TestClient[Any, Any]) -> None:
    await sim.post("/erp/sales-orders", json=sales_order(), headers=key("k-1"))

    seen = await documents(sim, "erp")

    assert set(seen) == {"count", "duplicates", "calls", "documents"}
    (document,) = seen["documents"]
    assert set(document) == {
        "idempotency_key",
        "type",
        "channel",
        "received_at",
        "body",
        "duplicates",
        "calls",
    }
    assert document["idempotency_key"] == "k-1"
    assert (document["type"], document["channel"]) == ("sales_order", "web")
    assert document["body"] == sales_order()
    assert datetime.fromisoformat(document["received_at"]).tzinfo is not None


async def test_a_post_without_an_idempotency_key_is_refused(sim: TestClient[Any, Any]) -> None:
    response = await sim.post("/erp/sales-orders", json=sales_order())

    assert response.status == 400
    assert "Idempotency-Key" in (await response.json())["detail"]
    assert (await documents(sim, "erp"))["count"] == 0


async def test_a_key_reused_for_another_document_is_refused(sim: TestClient[Any, Any]) -> None:
    await sim.post("/erp/sales-orders", json=sales_order("o-1"), headers=key("k-1"))
    response = await sim.post("/erp/sales-orders", json=sales_order("o-2"), headers=key("k-1"))

    assert response.status == 422
    assert "already used" in (await response.json())["detail"]
    assert (await documents(sim, "erp"))["count"] == 1


async def test_errors_are_503s_that_record_nothing(sim: TestClient[Any, Any]) -> None:
    await faults(sim, "erp", error_rate=1)
    failed = await sim.post("/erp/sales-orders", json=sales_order(), headers=key("k-1"))
    assert failed.status == 503
    assert (await documents(sim, "erp"))["count"] == 0

    await faults(sim, "erp", error_rate=0)
    retried = await sim.post("/erp/sales-orders", json=sales_order(), headers=key("k-1"))

    assert retried.status == 201
    assert (await documents(sim, "erp"))["duplicates"] == 0


async def test_fail_matching_fails_only_the_documents_that_contain_it(
    sim: TestClient[Any, Any],
) -> None:
    await faults(sim, "erp", fail_matching=["o-poison"])
    poisoned = await sim.post("/erp/sales-orders", json=sales_order("o-poison"), headers=key("p"))
    other = await sim.post("/erp/sales-orders", json=sales_order("o-fine"), headers=key("f"))
    health = await sim.get("/erp/health")
    again = await sim.post("/erp/sales-orders", json=sales_order("o-poison"), headers=key("p"))

    assert (poisoned.status, other.status, health.status, again.status) == (500, 201, 200, 500)
    assert [d["body"]["order_ref"] for d in (await documents(sim, "erp"))["documents"]] == [
        "o-fine"
    ]
    bad = await sim.post("/_sim/erp/faults", json={"fail_matching": "o-poison"})
    assert bad.status == 400
    await faults(sim, "erp", fail_matching=[])
    healed = await sim.post("/erp/sales-orders", json=sales_order("o-poison"), headers=key("p"))
    assert healed.status == 201


async def test_rejections_are_422s_with_a_reason_that_record_nothing(
    sim: TestClient[Any, Any],
) -> None:
    await faults(sim, "wms", reject_rate=1)

    response = await sim.post("/wms/fulfillment-orders", json=fulfillment_order(), headers=key("k"))

    assert response.status == 422
    assert response.content_type == "application/problem+json"
    assert "rejected" in (await response.json())["detail"]
    assert (await documents(sim, "wms"))["count"] == 0


async def test_an_invalid_document_is_a_422_naming_the_field(sim: TestClient[Any, Any]) -> None:
    body = {**sales_order(), "lines": []}

    response = await sim.post("/erp/sales-orders", json=body, headers=key("k-1"))

    assert response.status == 422
    assert "lines" in (await response.json())["detail"]


async def test_a_fulfillment_order_without_a_ship_to_is_refused(
    sim: TestClient[Any, Any],
) -> None:
    body = {key_: v for key_, v in fulfillment_order().items() if key_ != "ship_to"}

    response = await sim.post("/wms/fulfillment-orders", json=body, headers=key("k-1"))

    assert response.status == 422
    assert "ship_to" in (await response.json())["detail"]
    assert (await documents(sim, "wms"))["count"] == 0


async def test_throttling_is_a_429_with_retry_after(sim: TestClient[Any, Any]) -> None:
    await faults(sim, "crm", throttle_rate=1)

    response = await sim.post("/crm/contacts", json={"email": "a@b.c", "channel": "web"})

    assert response.status == 429
    assert response.headers["Retry-After"] == "1"


async def test_latency_delays_every_answer(sim: TestClient[Any, Any]) -> None:
    """The simulator's own call log shows the call received but not yet answered.

    Without the latency nothing can see that: from logging the call to recording its
    answer the handler never yields to the event loop, so the inspection would only
    ever find it applied (and `eventually` would give up)."""
    await faults(sim, "erp", latency_ms=1000)

    post = asyncio.ensure_future(
        sim.post("/erp/sales-orders", json=sales_order(), headers=key("k-1"))
    )

    async def received_and_waiting() -> bool:
        return bool((await calls(sim, "erp"))["outcomes"] == {"in_progress": 1})

    try:
        await eventually(received_and_waiting)
        assert not post.done()
        assert (await documents(sim, "erp"))["count"] == 0
    finally:
        response = await asyncio.wait_for(post, 10)

    assert response.status == 201
    log = await calls(sim, "erp")
    assert log["outcomes"] == {"applied": 1}
    assert (log["calls"][0]["status"], log["calls"][0]["held"]) == (201, False)
    assert (await documents(sim, "erp"))["count"] == 1


async def test_a_system_that_is_down_answers_503_until_it_recovers(
    sim: TestClient[Any, Any],
) -> None:
    await faults(sim, "erp", down_for_s=0.4)

    down = await sim.post("/erp/sales-orders", json=sales_order(), headers=key("k-1"))
    probe = await sim.get("/erp/health")
    health = await (await sim.get("/_sim/health")).json()
    other = await sim.get("/wms/health")

    assert down.status == probe.status == 503
    assert down.headers["Retry-After"] == "1"
    assert health["systems"]["erp"]["up"] is False
    assert other.status == 200
    await asyncio.sleep(0.45)
    assert (await sim.get("/erp/health")).status == 200
    recovered = await sim.post("/erp/sales-orders", json=sales_order(), headers=key("k-1"))
    assert recovered.status == 201


async def test_bad_fault_settings_and_unknown_systems_are_refused(
    sim: TestClient[Any, Any],
) -> None:
    rate = await sim.post("/_sim/erp/faults", json={"error_rate": 2})
    name = await sim.post("/_sim/erp/faults", json={"eror_rate": 0.1})
    system = await sim.get("/_sim/billing/documents")

    assert (rate.status, name.status, system.status) == (400, 400, 404)
    assert "error_rate" in (await rate.json())["detail"]
    assert "eror_rate" in (await name.json())["detail"]


async def test_reset_forgets_documents_and_faults(sim: TestClient[Any, Any]) -> None:
    await sim.post("/erp/sales-orders", json=sales_order(), headers=key("k-1"))
    await faults(sim, "erp", error_rate=1)

    assert (await sim.post("/_sim/erp/reset")).status == 200

    assert (await documents(sim, "erp"))["count"] == 0
    again = await sim.post("/erp/sales-orders", json=sales_order(), headers=key("k-1"))
    assert again.status == 201


async def test_the_crm_upserts_contacts_by_normalized_email(sim: TestClient[Any, Any]) -> None:
    web_contact = {"email": "Ana@Example.com", "name": "Ana", "channel": "web"}
    pos_contact = {"email": " ana@example.COM ", "phone": "+351910000000", "channel": "pos"}

    first = await sim.post("/crm/contacts", json=web_contact, headers=key("k-web"))
    second = await sim.post("/crm/contacts", json=pos_contact, headers=key("k-pos"))

    assert (first.status, second.status) == (201, 200)
    assert (await first.json())["contact_id"] == (await second.json())["contact_id"]
    state = await (await sim.get("/_sim/crm/state")).json()
    (contact,) = state["contacts"]
    assert contact["email"] == "ana@example.com"
    assert (contact["name"], contact["phone"]) == ("Ana", "+351910000000")
    assert contact["channels"] == ["web", "pos"]
    seen = await documents(sim, "crm")
    assert [d["channel"] for d in seen["documents"]] == ["web", "pos"]


async def test_a_timeline_entry_needs_a_known_contact(sim: TestClient[Any, Any]) -> None:
    entry = {
        "email": "nobody@example.com",
        "order_id": "o-1",
        "event": "order.accepted",
        "occurred_at": "2026-11-26T10:00:00+00:00",
    }

    response = await sim.post("/crm/timeline", json=entry, headers=key("k-1"))

    assert response.status == 422
    assert "unknown contact" in (await response.json())["detail"]


async def test_a_reallocation_replaces_and_cancels_fulfillment_orders(
    sim: TestClient[Any, Any],
) -> None:
    first = await sim.post(
        "/wms/fulfillment-orders", json=fulfillment_order("WH-EAST"), headers=key("k-1")
    )
    moved = await sim.post(
        "/wms/fulfillment-orders", json=fulfillment_order("WH-WEST"), headers=key("k-2")
    )

    assert (first.status, moved.status) == (201, 201)
    assert (await moved.json())["cancelled"] == [(await first.json())["fulfillment_order_number"]]
    state = await (await sim.get("/_sim/wms/state")).json()
    statuses = {fo["location"]: fo["status"] for fo in state["fulfillment_orders"]}
    assert statuses == {"WH-EAST": "cancelled", "WH-WEST": "released"}


async def test_a_cancellation_voids_the_orders_released_fulfillment_orders(
    sim: TestClient[Any, Any],
) -> None:
    await sim.post("/wms/fulfillment-orders", json=fulfillment_order("WH-EAST"), headers=key("1"))
    cancel = {
        "order_id": "o-1",
        "order_number": "WEB-10001",
        "channel": "web",
        "reason": "no stock is allocated to the order any more",
    }

    first = await sim.post("/wms/fulfillment-orders/cancellations", json=cancel, headers=key("c"))
    again = await sim.post("/wms/fulfillment-orders/cancellations", json=cancel, headers=key("c"))

    assert first.status == again.status == 200
    assert (await first.json())["cancelled"] == ["FO-000001"] == (await again.json())["cancelled"]
    state = await (await sim.get("/_sim/wms/state")).json()
    assert [fo["status"] for fo in state["fulfillment_orders"]] == ["cancelled"]
    assert (await documents(sim, "wms"))["duplicates"] == 1
    bad = await sim.post(
        "/wms/fulfillment-orders/cancellations", json={"order_id": "o-1"}, headers=key("x")
    )
    assert bad.status == 422


async def test_the_erp_prices_an_invoice_from_the_sales_order(sim: TestClient[Any, Any]) -> None:
    await sim.post("/erp/sales-orders", json=sales_order(), headers=key("k-1"))
    invoice = {
        "order_ref": "o-1",
        "shipment": {"location": "WH-EAST", "carrier": "DHL", "tracking_number": "JD1"},
        "lines": [{"sku": "TEE-M-BLK", "quantity": 1}],
    }

    response = await sim.post("/erp/invoices", json=invoice, headers=key("k-2"))

    assert response.status == 201
    reply = await response.json()
    assert (reply["net"], reply["tax"], reply["total"]) == ("19.90", "4.58", "24.48")
    unknown = {**invoice, "order_ref": "o-404"}
    rejected = await sim.post("/erp/invoices", json=unknown, headers=key("k-3"))
    assert rejected.status == 422


class FakeOrdersync:
    """POST /v1/shipments that fails `failures` times with 503, then accepts."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/shipments", self.shipments)
        return app

    async def shipments(self, request: web.Request) -> web.Response:
        self.requests.append((dict(request.headers), await request.json()))
        if len(self.requests) <= self.failures:
            return web.json_response({"detail": "busy"}, status=503)
        return web.json_response({"id": "s-1"}, status=201)


async def test_the_wms_ships_back_to_ordersync_with_retries(
    aiohttp_client: ClientFactory, aiohttp_server: Callable[..., Awaitable[TestServer]]
) -> None:
    ordersync = FakeOrdersync(failures=1)
    server = await aiohttp_server(ordersync.app())
    sim = await aiohttp_client(
        init_sim_app(
            ordersync_url=str(server.make_url("/")),
            wms_key="wms-key-123",
            ship_after_s=0.05,
            ship_retry_base_s=0.01,
        )
    )

    posted = await sim.post("/wms/fulfillment-orders", json=fulfillment_order(), headers=key("k"))
    assert posted.status == 201

    async def delivered() -> bool:
        state = await (await sim.get("/_sim/wms/state")).json()
        return any(s["delivery"] == "sent" for s in state.get("shipments", []))

    await eventually(delivered)
    assert len(ordersync.requests) == 2
    (headers, body), (retry_headers, retry_body) = ordersync.requests
    assert headers["Authorization"] == "Bearer wms-key-123"
    assert headers["Idempotency-Key"] == retry_headers["Idempotency-Key"]
    assert body == retry_body
    assert body == {
        "order_id": "o-1",
        "location": "WH-EAST",
        "carrier": "SIM-EXPRESS",
        "tracking_number": body["tracking_number"],
        "lines": [{"sku": "TEE-M-BLK", "quantity": 2}],
    }
    state = await (await sim.get("/_sim/wms/state")).json()
    assert state["fulfillment_orders"][0]["status"] == "shipped"
    assert state["shipments"][0]["attempts"] == 2
    change = await sim.post("/wms/fulfillment-orders", json=fulfillment_order(), headers=key("k2"))
    assert change.status == 422
    assert "already shipped" in (await change.json())["detail"]


async def test_shipping_is_switched_on_through_the_faults_route(
    aiohttp_client: ClientFactory, aiohttp_server: Callable[..., Awaitable[TestServer]]
) -> None:
    ordersync = FakeOrdersync()
    server = await aiohttp_server(ordersync.app())
    url = str(server.make_url("/"))
    sim = await aiohttp_client(init_sim_app(ordersync_url=url, wms_key="k"))
    await sim.post("/wms/fulfillment-orders", json=fulfillment_order("WH-EAST"), headers=key("1"))
    await asyncio.sleep(0.1)
    assert ordersync.requests == []

    await faults(sim, "wms", ship_after_s=0)
    await sim.post("/wms/fulfillment-orders", json=fulfillment_order("WH-WEST"), headers=key("2"))

    async def shipped() -> bool:
        return len(ordersync.requests) == 1

    await eventually(shipped)
    assert ordersync.requests[0][1]["location"] == "WH-WEST"


async def test_shipping_without_an_ordersync_url_is_refused(sim: TestClient[Any, Any]) -> None:
    response = await sim.post("/_sim/wms/faults", json={"ship_after_s": 1})
    other = await sim.post("/_sim/erp/faults", json={"ship_after_s": 1})

    assert (response.status, other.status) == (400, 400)
    assert "ordersync URL" in (await response.json())["detail"]


async def test_the_simulator_is_told_where_to_ship_back_once_ordersync_listens(
    aiohttp_client: ClientFactory, aiohttp_server: Callable[..., Awaitable[TestServer]]
) -> None:
    """Started first (its port goes to ordersync's settings), the simulator learns ordersync's
    URL later: POST /_sim/shipper, as if it had been started with it."""
    ordersync = FakeOrdersync()
    server = await aiohttp_server(ordersync.app())
    url = str(server.make_url("/"))
    sim = await aiohttp_client(init_sim_app(seed=1))
    before = await (await sim.get("/_sim/shipper")).json()
    assert before == {
        "ordersync_url": None,
        "can_ship": False,
        "ship_after_s": None,
        "ship_locations": None,
        "pending": 0,
    }

    for bad, says in (
        ({"wms_key": "k", "ship_after_s": 0}, "ordersync_url"),
        ({"ordersync_url": "ftp://x", "wms_key": "k"}, "ordersync_url"),
        ({"ordersync_url": "http://127.0.0.1:0", "wms_key": "k"}, "ordersync_url"),
        ({"ordersync_url": url, "ship_after_s": 0}, "wms_key"),
        ({"ordersync_url": url, "wms_key": "k", "ship_after_s": -1}, "ship_after_s"),
        ({"ordersync_url": url, "wms_key": "k", "after": 1}, "unknown settings: after"),
    ):
        refused = await sim.post("/_sim/shipper", json=bad)
        assert refused.status == 400, bad
        assert says in (await refused.json())["detail"], bad
    assert await (await sim.get("/_sim/shipper")).json() == before

    told = await sim.post(
        "/_sim/shipper", json={"ordersync_url": url, "wms_key": "wms-key-9", "ship_after_s": 0}
    )
    assert told.status == 200, await told.text()
    view = await told.json()
    assert view == {
        "ordersync_url": url.rstrip("/"),
        "can_ship": True,
        "ship_after_s": 0.0,
        "ship_locations": None,
        "pending": 0,
    }
    assert "wms-key-9" not in json.dumps(view)  # the key is never shown

    await sim.post("/wms/fulfillment-orders", json=fulfillment_order(), headers=key("1"))

    async def shipped() -> bool:
        return len(ordersync.requests) == 1

    await eventually(shipped)
    headers, body = ordersync.requests[0]
    assert headers["Authorization"] == "Bearer wms-key-9"
    assert body["location"] == "WH-EAST"
    # A reset comes back to what it was told, as to what it was started with.
    await faults(sim, "wms", ship_after_s=None)
    assert (await sim.post("/_sim/wms/reset")).status == 200
    after_reset = await (await sim.get("/_sim/wms/faults")).json()
    assert after_reset["ship_after_s"] == 0.0


async def test_cleanup_cancels_pending_shipments() -> None:
    app = init_sim_app(ordersync_url="http://127.0.0.1:9", wms_key="k", ship_after_s=30)
    server = TestServer(app)
    client = TestClient(server)
    await client.start_server()
    await client.post("/wms/fulfillment-orders", json=fulfillment_order(), headers=key("k"))
    wms = app[SIM].systems["wms"]
    (order,) = wms.collection("fulfillment_orders").values()

    assert app[SIM].shipper.pending == 1

    # The bound only keeps a regression from hanging the run for the 30 s sleep.
    await asyncio.wait_for(client.close(), 10)

    assert app[SIM].shipper.pending == 0
    # Cancelled in its sleep: it never shipped (nor tried to tell port 9 about it).
    assert order["status"] == "released"
    assert wms.collection("shipments") == {}


# -- the call log, holds, targeted rejections, fail-once -------------------------------


async def calls(client: TestClient[Any, Any], system: str, since: int = 0) -> dict[str, Any]:
    response = await client.get(f"/_sim/{system}/calls", params={"since": str(since)})
    assert response.status == 200
    return dict(await response.json())


async def held(client: TestClient[Any, Any], system: str) -> list[dict[str, Any]]:
    response = await client.get(f"/_sim/{system}/held")
    assert response.status == 200
    return list((await response.json())["held"])


async def test_every_call_is_counted_per_key_with_its_outcome(sim: TestClient[Any, Any]) -> None:
    await faults(sim, "erp", error_rate=1)
    failed = await sim.post("/erp/sales-orders", json=sales_order(), headers=key("k-1"))
    await faults(sim, "erp", error_rate=0)
    first = await sim.post("/erp/sales-orders", json=sales_order(), headers=key("k-1"))
    again = await sim.post("/erp/sales-orders", json=sales_order(), headers=key("k-1"))
    other = await sim.post("/erp/sales-orders", json=sales_order("o-2"), headers=key("k-2"))
    unkeyed = await sim.post("/erp/sales-orders", json=sales_order("o-3"))

    assert [r.status for r in (failed, first, again, other, unkeyed)] == [503, 201, 201, 201, 400]
    log = await calls(sim, "erp")
    assert log["total"] == 5
    assert log["keys"] == {"k-1": 3, "k-2": 1, "": 1}
    assert [(c["call"], c["idempotency_key"], c["outcome"]) for c in log["calls"]] == [
        (1, "k-1", "failed"),
        (2, "k-1", "applied"),
        (3, "k-1", "replayed"),
        (4, "k-2", "applied"),
        (5, "", "invalid"),
    ]
    assert log["outcomes"] == {"failed": 1, "applied": 2, "replayed": 1, "invalid": 1}
    assert {c["path"] for c in log["calls"]} == {"/erp/sales-orders"}
    assert all(c["peer"].startswith("127.0.0.1:") for c in log["calls"])
    assert [c["call"] for c in (await calls(sim, "erp", since=3))["calls"]] == [4, 5]
    seen = await documents(sim, "erp")
    assert [(d["idempotency_key"], d["calls"]) for d in seen["documents"]] == [
        ("k-1", 3),
        ("k-2", 1),
    ]
    assert (seen["count"], seen["duplicates"], seen["calls"]) == (2, 1, 4)
    assert (await sim.get("/_sim/erp/calls", params={"since": "x"})).status == 400


async def test_a_held_call_waits_until_released_and_is_then_served(
    sim: TestClient[Any, Any],
) -> None:
    await faults(sim, "erp", hold_matching=["o-held"])
    waiting = asyncio.ensure_future(
        sim.post("/erp/sales-orders", json=sales_order("o-held"), headers=key("k-h"))
    )

    async def one_held() -> bool:
        return len(await held(sim, "erp")) == 1

    await eventually(one_held)
    other = await sim.post("/erp/sales-orders", json=sales_order("o-free"), headers=key("k-f"))
    (call,) = await held(sim, "erp")
    assert (call["idempotency_key"], call["client_gone"], call["outcome"]) == ("k-h", False, None)
    assert other.status == 201 and not waiting.done()
    assert [d["idempotency_key"] for d in (await documents(sim, "erp"))["documents"]] == ["k-f"]

    released = await (await sim.post("/_sim/erp/release")).json()
    response = await waiting

    assert released["released"] == 1 and released["calls"][0]["idempotency_key"] == "k-h"
    assert response.status == 201
    assert await held(sim, "erp") == []
    settings = (await (await sim.get("/_sim/erp/faults")).json())["faults"]
    assert (settings["hold_all"], settings["hold_matching"]) == (False, [])  # release stops it
    log = await calls(sim, "erp")
    assert [(c["idempotency_key"], c["held"], c["outcome"]) for c in log["calls"]] == [
        ("k-h", True, "applied"),
        ("k-f", False, "applied"),
    ]


async def raw_post(port: int, path: str, body: dict[str, Any], idempotency_key: str) -> Any:
    """Send a POST on a socket of our own (so the test can close it: a caller that died)."""
    data = json.dumps(body).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: sim\r\nContent-Type: application/json\r\n"
        f"Idempotency-Key: {idempotency_key}\r\nContent-Length: {len(data)}\r\n\r\n".encode()
        + data
    )
    await writer.drain()
    return reader, writer


async def test_a_held_call_whose_client_died_is_abandoned_and_applies_nothing(
    sim: TestClient[Any, Any],
) -> None:
    await faults(sim, "erp", hold_all=True)
    port = sim.server.port
    assert port is not None
    _reader, writer = await raw_post(port, "/erp/sales-orders", sales_order(), "k-1")

    async def held_then_gone(gone: bool) -> bool:
        calls_ = await held(sim, "erp")
        return len(calls_) == 1 and calls_[0]["client_gone"] is gone

    await eventually(lambda: held_then_gone(False))
    writer.close()  # the caller dies while its call is held
    await eventually(lambda: held_then_gone(True))
    released = await (await sim.post("/_sim/erp/release")).json()

    assert released["calls"][0]["client_gone"] is True

    async def finished() -> bool:
        return (await calls(sim, "erp"))["calls"][0]["outcome"] is not None

    await eventually(finished)
    assert (await calls(sim, "erp"))["calls"][0]["outcome"] == "abandoned"
    assert (await documents(sim, "erp"))["count"] == 0
    assert (await (await sim.get("/_sim/erp/state")).json()) == {}
    # The redelivery with the same key is the first application, not a replay.
    retried = await sim.post("/erp/sales-orders", json=sales_order(), headers=key("k-1"))
    assert retried.status == 201 and "Idempotent-Replayed" not in retried.headers
    log = await calls(sim, "erp")
    assert [c["outcome"] for c in log["calls"]] == ["abandoned", "applied"]
    assert log["keys"] == {"k-1": 2}
    assert (await documents(sim, "erp"))["documents"][0]["calls"] == 2


async def test_hold_all_holds_every_call_of_that_system_only_and_a_reset_refuses_them(
    sim: TestClient[Any, Any],
) -> None:
    await faults(sim, "erp", hold_all=True)
    first = asyncio.ensure_future(
        sim.post("/erp/sales-orders", json=sales_order("o-1"), headers=key("a"))
    )
    second = asyncio.ensure_future(
        sim.post("/erp/sales-orders", json=sales_order("o-2"), headers=key("b"))
    )
    crm = await sim.post(
        "/crm/contacts", json={"email": "a@b.c", "channel": "web"}, headers=key("c")
    )

    async def both_held() -> bool:
        return len(await held(sim, "erp")) == 2

    await eventually(both_held)
    assert crm.status == 201
    assert (await sim.post("/_sim/erp/reset")).status == 200
    assert {(await first).status, (await second).status} == {503}  # forgotten, not applied
    assert await held(sim, "erp") == []
    assert (await documents(sim, "erp"))["count"] == 0
    again = await sim.post("/erp/sales-orders", json=sales_order("o-1"), headers=key("a"))
    assert again.status == 201
    bad = await sim.post("/_sim/erp/faults", json={"hold_all": "yes"})
    assert bad.status == 400 and "hold_all" in (await bad.json())["detail"]


async def test_reject_matching_refuses_only_the_documents_that_contain_it(
    sim: TestClient[Any, Any],
) -> None:
    await faults(sim, "erp", reject_matching=["o-poison"])
    poisoned = await sim.post("/erp/sales-orders", json=sales_order("o-poison"), headers=key("p"))
    other = await sim.post("/erp/sales-orders", json=sales_order("o-fine"), headers=key("f"))

    assert (poisoned.status, other.status) == (422, 201)
    assert "reject_matching" in (await poisoned.json())["detail"]
    await faults(sim, "erp", reject_matching=[])
    healed = await sim.post("/erp/sales-orders", json=sales_order("o-poison"), headers=key("p"))
    assert healed.status == 201
    log = await calls(sim, "erp")
    assert [(c["idempotency_key"], c["outcome"]) for c in log["calls"]] == [
        ("p", "rejected"),
        ("f", "applied"),
        ("p", "applied"),
    ]


async def test_fail_once_fails_each_key_once_and_never_twice(sim: TestClient[Any, Any]) -> None:
    await faults(sim, "erp", fail_once_rate=1)
    statuses = []
    for k in ("a", "b"):
        for _ in range(2):
            response = await sim.post("/erp/sales-orders", json=sales_order(k), headers=key(k))
            statuses.append(response.status)

    assert statuses == [503, 201, 503, 201]
    assert [c["outcome"] for c in (await calls(sim, "erp"))["calls"]] == [
        "failed",
        "applied",
        "failed",
        "applied",
    ]
