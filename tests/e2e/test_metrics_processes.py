"""/metrics of the real processes: the api on its own port, a relay and a worker on their
ORDERSYNC_METRICS_PORT, and an api of two processes answering every scrape with the sum of
both (the shared on-disk registry)."""

from __future__ import annotations

import socket
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from adapters.db import registry
from tests.e2e.processes import listening_urls, reserved_port, start, stop, wait_until
from tests.e2e.stack import ADMIN, Stack, place, stocked
from tests.factories import order_doc
from tests.metrics_scrape import Samples, parse, value

pytestmark = pytest.mark.e2e


def free_port() -> int:
    """A port free right now. The metrics server binds it a moment later (0 means off, so
    it cannot be asked to pick one); another process taking it meanwhile is unlikely."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def scrape(url: str) -> Samples:
    response = httpx.get(url, timeout=5)
    assert response.status_code == 200, response.text
    return parse(response.text)


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum over every series of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= set(ls))


def count(engine: sa.Engine, sql: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text(sql)).scalar_one())


def test_the_api_relay_and_worker_processes_each_show_what_they_did(stack: Stack) -> None:
    relay_port, worker_port = free_port(), free_port()
    stack.extra_env["ORDERSYNC_METRICS_PORT"] = str(relay_port)  # the relay's (up starts it)
    stack.up(workers=0, ship_after=None)  # no shipments: the workload ends when applied
    stack.start(
        "worker",
        "worker",
        "--threads",
        "2",
        env={**stack.env(), "ORDERSYNC_METRICS_PORT": str(worker_port)},
    )
    relay_metrics = f"http://127.0.0.1:{relay_port}/metrics"
    worker_metrics = f"http://127.0.0.1:{worker_port}/metrics"
    wait_until(lambda: answers(relay_metrics) and answers(worker_metrics), 30, "metrics ports")

    stocked(stack)
    place(stack, "MX", 3, [("A", 1)])
    wait_until(stack.settled, 60, "every delivery applied")

    api = scrape(f"{stack.api}/metrics")
    relay = scrape(relay_metrics)
    worker = scrape(worker_metrics)
    deliveries = count(stack.engine, "SELECT count(*) FROM outbox_deliveries")
    statuses = stack.statuses()  # applied, and older stock figures superseded

    received = "ordersync_orders_received_total"
    assert value(api, received, channel="web", outcome="created") == 3
    assert total(api, "ordersync_ingest_duration_seconds_count", door="orders") == 3
    assert total(api, "ordersync_outbox_backlog") == 0
    # Every delivery was published by this one relay (a parked one released is published
    # again), and settled by this one worker, each by its own message.
    assert value(relay, "ordersync_relay_published_total") >= deliveries > 0
    outcomes = {ls: v for (n, ls), v in worker.items() if n == "ordersync_deliveries_total"}
    for status in ("applied", "superseded"):
        moved = total(worker, "ordersync_deliveries_total", outcome=status)
        assert moved == statuses.get(status, 0), (status, outcomes)
    assert sum(statuses.values()) == deliveries
    # Each process shows only its own: the worker publishes nothing, the relay applies nothing.
    assert total(relay, "ordersync_deliveries_total") == 0
    assert value(worker, "ordersync_relay_published_total") == 0

    assert stack.stop("relay") == 0 and stack.stop("worker") == 0
    assert not answers(relay_metrics) and not answers(worker_metrics)


def test_an_api_of_two_processes_answers_every_scrape_with_both_processes_counts(
    engine: sa.Engine, database_url: str
) -> None:
    with engine.begin() as conn:
        key = registry.add_channel(conn, "web", "canonical", rate_limit_per_minute=0)
    with reserved_port() as port:
        process = start(
            "api",
            "--port",
            str(port),
            "--processes",
            "2",
            database_url=database_url,
            ORDERSYNC_ADMIN_TOKEN=ADMIN,
        )
        try:
            wait_until(lambda: len(listening_urls(process)) == 2, 30, "two API processes")
            base = f"http://127.0.0.1:{port}"
            headers = {"Authorization": f"Bearer {key}"}
            stock = {"adjustments": [{"sku": "TEE-M-BLK", "location": "WH", "set_on_hand": 100}]}
            admin = {"Authorization": f"Bearer {ADMIN}"}
            adjusted = httpx.post(
                f"{base}/v1/inventory/adjustments", json=stock, headers=admin, timeout=10
            )
            assert adjusted.status_code == 200, adjusted.text
            # Fresh connections: the kernel spreads them over both processes.
            statuses = [
                httpx.post(
                    f"{base}/v1/orders", json=order_doc(f"MP-{i}"), headers=headers, timeout=10
                ).status_code
                for i in range(12)
            ]
            assert statuses == [201] * 12
            seen: list[Any] = []
            for _ in range(6):
                samples = scrape(f"{base}/metrics")
                seen.append(
                    value(
                        samples, "ordersync_orders_received_total", channel="web", outcome="created"
                    )
                )
            assert seen == [12] * 6
        finally:
            assert stop(process) == 0
