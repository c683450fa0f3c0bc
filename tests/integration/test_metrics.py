"""/metrics through the real app over real PostgreSQL, and the relay's and the actors'
listeners fed by a real relay run and real deliveries: a small workload moves every
counter and histogram by exactly what it did."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dramatiq
import pytest
import sqlalchemy as sa
from dramatiq.brokers.stub import StubBroker

from actors.clients import SystemClients
from actors.middleware import DeliveryTiming, delivery_hooks
from actors.registry import Policy, register
from actors.systems import SYSTEMS
from adapters.db import registry
from adapters.db.engine import make_engine
from adapters.http.keys import HttpConfig
from domain.events import DomainEvent, InventoryChanged, LocationStock
from ops.metrics import delivery, relay
from ops.wiring import QUEUES, ROUTING
from outbox.hooks import RelayHooks
from outbox.inprocess_publisher import InProcessPublisher
from outbox.relay import Relay
from outbox.writer import write_events
from simulators.app import init_sim_app
from simulators.server import ServerThread
from tests.factories import order_doc
from tests.integration.conftest import Keys, stock
from tests.metrics_scrape import Samples, changed, moved, parse, process_samples, value
from tests.outbox_rows import TRACE, write_orders
from tests.webhooks import hmac_headers, post_delivery, webhook_channel, webhook_config

WOO_SECRET = "wc-webhook-secret-metrics"
WOO_ORDER = Path(__file__).parent.parent / "fixtures" / "woocommerce" / "order-created.json"


@pytest.fixture
def http_config() -> HttpConfig:
    return webhook_config()


async def scrape(client: Any) -> Samples:
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    return parse(await response.text())


def woo_headers(body: bytes, delivery_id: str) -> dict[str, str]:
    return {
        "X-WC-Webhook-Topic": "order.created",
        "X-WC-Webhook-Resource": "order",
        "X-WC-Webhook-Event": "created",
        "X-WC-Webhook-ID": "12",
        "X-WC-Webhook-Delivery-ID": delivery_id,
        "X-WC-Webhook-Source": "https://shop.example.com/",
        **hmac_headers(body, WOO_SECRET, "X-WC-Webhook-Signature"),
    }


def count(engine: sa.Engine, sql: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text(sql)).scalar_one())


async def test_a_small_workload_moves_the_api_metrics_by_exactly_what_it_did(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    await stock(
        client,
        keys,
        {"sku": "TEE-M-BLK", "location": "WH-EAST", "set_on_hand": 5},
        {"sku": "NO-STOCK", "location": "WH-EAST", "set_on_hand": 0},  # known, none on hand
    )
    webhook_channel(engine, "woo", "woocommerce", secret=WOO_SECRET, shop_domain="shop.example.com")
    before = await scrape(client)
    web = Keys.bearer(keys.web)

    created = await client.post("/v1/orders", json=order_doc("M-1"), headers=web)
    again = await client.post("/v1/orders", json=order_doc("M-1"), headers=web)
    short = order_doc("M-2", lines=[("NO-STOCK", 3)])  # nothing anywhere: backordered
    backordered = await client.post("/v1/orders", json=short, headers=web)
    wrong_total = {**order_doc("M-3"), "totals": {"grand_total": "1.00"}}
    rejected = await client.post("/v1/orders", json=wrong_total, headers=web)
    stranger = await client.post("/v1/orders", json=order_doc("M-4"), headers=Keys.bearer("nope"))
    assert [r.status for r in (created, again, backordered, rejected, stranger)] == [
        201,
        200,
        201,
        422,
        401,
    ]
    assert (await backordered.json())["status"] == "backordered"

    body = WOO_ORDER.read_bytes()
    first = await post_delivery(client, "woocommerce", body, woo_headers(body, "d-1"))
    copy = await post_delivery(client, "woocommerce", body, woo_headers(body, "d-1"))
    assert (first[0], copy[0], copy[1]["status"]) == (202, 200, "duplicate")
    forged = await post_delivery(client, "woocommerce", body, {"X-WC-Webhook-Signature": "x"})
    nonsense = await post_delivery(client, "no-such-kind-8f3a", body, {})
    assert (forged[0], nonsense[0]) == (401, 404)

    order_id = (await created.json())["id"]
    payment = {"order_id": order_id, "kind": "authorization", "transaction_id": "AUTH-9"}
    erp = Keys.bearer(keys.erp)
    ok = await client.post("/v1/payments", json={**payment, "amount": "1.00"}, headers=erp)
    reused = await client.post("/v1/payments", json={**payment, "amount": "2.00"}, headers=erp)
    assert (ok.status, reused.status) == (201, 409)

    after = await scrape(client)
    received = changed(before, after, "ordersync_orders_received_total")
    assert received == {
        ("ordersync_orders_received_total", (("channel", "web"), ("outcome", "created"))): 2,
        ("ordersync_orders_received_total", (("channel", "web"), ("outcome", "duplicate"))): 1,
        ("ordersync_orders_received_total", (("channel", "web"), ("outcome", "rejected"))): 1,
        (
            "ordersync_orders_received_total",
            (("channel", "unknown"), ("outcome", "unauthorized")),
        ): 1,
    }
    assert moved(before, after, "ordersync_ingest_duration_seconds_count", door="orders") == 5
    assert moved(before, after, "ordersync_ingest_duration_seconds_count", door="webhook") == 4
    assert moved(before, after, "ordersync_ingest_duration_seconds_sum", door="orders") > 0
    # The acknowledgment objective: only the two 201s, each in some bucket up to +Inf.
    ack = "ordersync_slo_order_acknowledgment_seconds"
    assert moved(before, after, f"{ack}_count", channel="web") == 2
    assert moved(before, after, f"{ack}_bucket", channel="web", le="+Inf") == 2
    assert 0 <= moved(before, after, f"{ack}_bucket", channel="web", le="0.5") <= 2
    webhooks = "ordersync_webhooks_received_total"
    assert changed(before, after, webhooks) == {
        (webhooks, (("kind", "woocommerce"), ("outcome", "received"))): 1,
        (webhooks, (("kind", "woocommerce"), ("outcome", "duplicate"))): 1,
        (webhooks, (("kind", "woocommerce"), ("outcome", "unauthorized"))): 1,
        # A path the caller made up is no label of its own (bounded cardinality).
        (webhooks, (("kind", "unknown"), ("outcome", "rejected"))): 1,
    }
    duplicates = "ordersync_webhook_duplicates_total"
    assert moved(before, after, duplicates, kind="woocommerce", channel="woo") == 1
    assert changed(before, after, "ordersync_payment_mismatches_total") == {
        ("ordersync_payment_mismatches_total", (("kind", "payment"),)): 1
    }
    assert moved(before, after, "ordersync_backorders_total", channel="web") == 1
    units = "ordersync_oversells_prevented_units_total"
    assert moved(before, after, units, channel="web") == 3


async def test_the_database_figures_are_read_at_scrape_time(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    await stock(client, keys, {"sku": "NO-STOCK", "location": "WH-EAST", "set_on_hand": 0})
    web = Keys.bearer(keys.web)
    short = order_doc("B-1", lines=[("NO-STOCK", 2)])
    assert (await client.post("/v1/orders", json=short, headers=web)).status == 201
    with engine.begin() as conn:  # accepted five hours ago (the threshold is four)
        conn.execute(sa.text("UPDATE orders SET created_at = now() - interval '5 hours'"))
        conn.execute(
            sa.text(
                "INSERT INTO dead_letters (destination, event_id, generation, event_type,"
                " aggregate_type, aggregate_id, sequence, error, attempts, envelope)"
                " VALUES ('erp', gen_random_uuid(), 0, 'order.accepted', 'order', 'x', 1,"
                " 'rejected', 3, '{}')"
            )
        )
    samples = await scrape(client)

    assert value(samples, "ordersync_metrics_database_up") == 1
    destinations = [
        r[0]
        for r in engine.connect().execute(
            sa.text("SELECT DISTINCT destination FROM outbox_deliveries WHERE published_at IS NULL")
        )
    ]
    assert destinations, "the order wrote no outbox rows"
    for destination in destinations:
        unpublished = count(
            engine,
            "SELECT count(*) FROM outbox_deliveries WHERE published_at IS NULL"
            f" AND destination = '{destination}'",
        )
        assert value(samples, "ordersync_outbox_backlog", destination=destination) == unpublished
        age = value(
            samples, "ordersync_outbox_oldest_unpublished_age_seconds", destination=destination
        )
        assert 0 < age < 60
    assert value(samples, "ordersync_dead_letters_open", destination="erp") == 1
    unallocated = "ordersync_orders_unallocated_delayed"
    assert value(samples, unallocated, reason="backordered") == 1
    assert value(samples, unallocated, reason="held") == 0

    # Published, the backlog goes to 0 but the series stays (its alerts resolve).
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE outbox_deliveries SET published_at = now()"))
    await asyncio.sleep(1.1)  # past the collector's reuse of its last reading
    later = await scrape(client)
    for destination in destinations:
        assert ("ordersync_outbox_backlog", (("destination", destination),)) in later
        assert value(later, "ordersync_outbox_backlog", destination=destination) == 0


def test_a_relay_run_counts_what_the_broker_confirmed_and_its_batches(engine: sa.Engine) -> None:
    rows = write_orders(engine, aggregates=30, events_each=2)  # 90 deliveries
    hooks = RelayHooks()
    relay.attach(hooks)
    relay.attach(hooks)  # attaching twice counts once
    before = process_samples()
    publisher = InProcessPublisher(StubBroker())
    runner = Relay(engine, publisher, queues=QUEUES, batch_size=40, hooks=hooks)
    batches = 0
    while runner.run_once():
        batches += 1
    after = process_samples()

    assert batches == 3
    assert moved(before, after, "ordersync_relay_published_total") == rows == 90
    assert moved(before, after, "ordersync_relay_batches_total") == 3
    assert moved(before, after, "ordersync_relay_publish_failures_total") == 0
    assert moved(before, after, "ordersync_relay_confirm_duration_seconds_count") == 3
    assert 0 < moved(before, after, "ordersync_relay_confirm_duration_seconds_sum") < 10


@pytest.fixture
def sim() -> Iterator[str]:
    with ServerThread(init_sim_app(seed=1)) as server:
        yield server.url


def test_real_deliveries_count_outcomes_dead_letters_and_the_journeys_they_end(
    database_url: str, sim: str
) -> None:
    """Three orders to the WMS (applied), a stock figure to a channel that takes nothing
    back (applied: it ends an inventory-sync journey) and one to a channel that does not
    exist (poison: a dead letter at once)."""
    engine = make_engine(database_url, pool_size=6)
    with engine.begin() as conn:
        registry.add_channel(conn, "web", "canonical")  # no --api-url: takes nothing back
    write_orders(engine, aggregates=3, events_each=1)  # order.allocated → wms
    figure = InventoryChanged(
        sku="TEE", atp=4, locations=[LocationStock(location="WH", on_hand=4, reserved=0, atp=4)]
    )
    with engine.begin() as conn:
        write_events(
            conn, [DomainEvent(figure, 1, None)], TRACE, lambda: ["web", "ghost"], routing=ROUTING
        )
    broker = StubBroker()
    broker.emit_after("process_boot")
    clients = SystemClients.create(engine, SYSTEMS.urls_at(sim))
    delivery.attach()
    worker = None
    before = process_samples()
    try:
        register(broker, engine, clients, Policy())
        started = time.time()
        while Relay(engine, InProcessPublisher(broker), queues=QUEUES).run_once():
            pass
        worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=50)
        worker.start()
        broker.join("wms", timeout=30_000)
        broker.join("channels", timeout=30_000)
        worker.join()
        took = time.time() - started
    finally:
        delivery_hooks.unsubscribe(delivery.observe_delivery)
        if worker is not None:
            worker.stop()
        clients.close()
        engine.dispose()
    after = process_samples()

    outcomes = changed(before, after, "ordersync_deliveries_total")
    assert outcomes == {
        ("ordersync_deliveries_total", (("destination", "wms"), ("outcome", "applied"))): 3,
        ("ordersync_deliveries_total", (("destination", "channel:web"), ("outcome", "applied"))): 1,
        ("ordersync_deliveries_total", (("destination", "channel:ghost"), ("outcome", "dead"))): 1,
    }, outcomes
    assert changed(before, after, "ordersync_delivery_retries_total") == {}
    assert moved(before, after, "ordersync_dead_letters_total", destination="channel:ghost") == 1
    assert moved(before, after, "ordersync_delivery_duration_seconds_count", destination="wms") == 3
    queue = "ordersync_delivery_queue_seconds_count"
    assert moved(before, after, queue, destination="channel:ghost") == 1
    # The stock figure applied at the channel ends one inventory-sync journey; nothing the
    # WMS applied ends one.
    journeys = changed(before, after, "ordersync_slo_")
    sync = "ordersync_slo_inventory_sync_seconds"
    assert journeys[(f"{sync}_count", (("destination", "channel:web"),))] == 1
    assert journeys[(f"{sync}_bucket", (("destination", "channel:web"), ("le", "60.0")))] == 1
    assert 0 < journeys[(f"{sync}_sum", (("destination", "channel:web"),))] < took + 1
    assert {name for name, _ in journeys} == {f"{sync}_count", f"{sync}_bucket", f"{sync}_sum"}


def test_a_retried_message_counts_a_retry_then_its_outcome_and_its_queue_time_once() -> None:
    """A real Dramatiq worker with our timing middleware: the first try raises Retry."""
    broker = StubBroker()
    broker.add_middleware(DeliveryTiming())
    broker.emit_after("process_boot")
    tries: list[int] = []

    @dramatiq.actor(broker=broker, queue_name="erp", actor_name="erp.flaky", min_backoff=1)
    def flaky(envelope: dict[str, Any]) -> None:
        tries.append(1)
        if len(tries) == 1:
            raise dramatiq.Retry("a blip", delay=1)

    delivery.attach()
    before = process_samples()
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=50)
    worker.start()
    try:
        flaky.send({"event_id": "e-1", "event_type": "order.accepted", "destination": "erp"})
        broker.join("erp", timeout=10_000)
        worker.join()
    finally:
        delivery_hooks.unsubscribe(delivery.observe_delivery)
        worker.stop()
    after = process_samples()

    assert len(tries) == 2
    assert changed(before, after, "ordersync_deliveries_total") == {
        ("ordersync_deliveries_total", (("destination", "erp"), ("outcome", "retry"))): 1,
        ("ordersync_deliveries_total", (("destination", "erp"), ("outcome", "done"))): 1,
    }
    assert moved(before, after, "ordersync_delivery_retries_total", destination="erp") == 1
    assert moved(before, after, "ordersync_delivery_duration_seconds_count", destination="erp") == 2
    assert moved(before, after, "ordersync_delivery_queue_seconds_count", destination="erp") == 1


def test_the_scrape_time_queries_can_read_their_partial_indexes(engine: sa.Engine) -> None:
    """The backlog and the backordered lines are read through the partial indexes kept for
    them (the relay's work queue, the backorder fill's lines), not by scanning the ledger
    or every order line: with sequential scans off, the plan names each index."""
    from adapters.db import metrics_queries as q

    with engine.connect() as conn, conn.begin():
        conn.execute(sa.text("SET LOCAL enable_seqscan = off"))
        backlog = conn.execute(sa.text(f"EXPLAIN {q._BACKLOG.text}")).scalars().all()
        unallocated = (
            conn.execute(
                sa.text(f"EXPLAIN {q._UNALLOCATED.text}"), {"before": "2026-01-01T00:00:00Z"}
            )
            .scalars()
            .all()
        )
    assert "ix_deliveries_unpublished" in "\n".join(backlog)
    assert "ix_order_lines_backordered" in "\n".join(unallocated)


def test_with_the_database_away_a_scrape_still_answers_and_says_so() -> None:
    """The figures are left out (no stale or zero backlog passes for the truth) and
    ordersync_metrics_database_up says 0."""
    from prometheus_client import CollectorRegistry, generate_latest

    from ops.metrics.backlog import DatabaseCollector

    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    away = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{port}/none", pool_size=1)
    registry = CollectorRegistry()
    registry.register(DatabaseCollector(away))
    try:
        samples = parse(generate_latest(registry).decode())
    finally:
        away.dispose()
    assert samples == {("ordersync_metrics_database_up", ()): 0.0}
