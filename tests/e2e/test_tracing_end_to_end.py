"""One trace and one correlation id across real processes: the api, the relay and a worker,
each exporting OTLP to a collector of the test's (as to Jaeger), each logging JSON lines.

An order placed with an X-Correlation-ID is followed: its request span (ordersync-api)
is the parent of the relay's producer span (ordersync-relay), which is the parent of the
worker's consumer span (ordersync-worker), whose child is the HTTP call to the ERP — one
trace id, three processes, the broker in between. Every line the three logged is a JSON
object, and the api's line for the request names its correlation, trace and span ids."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from simulators.server import ServerThread
from tests.e2e.otlp_collector import Collector, ReceivedSpan
from tests.e2e.processes import log_of, wait_until
from tests.e2e.stack import Stack
from tests.factories import order_doc

pytestmark = pytest.mark.e2e


@pytest.fixture
def collector() -> Iterator[tuple[Collector, str]]:
    received = Collector()
    with ServerThread(received.app()) as server:
        yield received, server.url


def test_one_trace_runs_from_the_api_through_the_relay_to_the_workers_erp_call(
    stack: Stack, collector: tuple[Collector, str]
) -> None:
    received, url = collector
    stack.extra_env.update(
        {
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_ENDPOINT": url,
            "OTEL_BSP_SCHEDULE_DELAY": "100",  # ms: export soon, the test waits for it
        }
    )
    stack.up(ship_after=None)
    stocked = stack.admin(
        "POST",
        "/v1/inventory/adjustments",
        json={"adjustments": [{"sku": "A", "location": "WH-EAST", "set_on_hand": 10}]},
    )
    assert stocked.status_code == 200, stocked.text
    placed = httpx.post(
        f"{stack.api}/v1/orders",
        json=order_doc("TRACE-1", [("A", 1)]),
        headers={"Authorization": f"Bearer {stack.channel_key}", "X-Correlation-ID": "corr-e2e-1"},
        timeout=10,
    )
    assert placed.status_code == 201, placed.text
    assert placed.headers["X-Correlation-ID"] == "corr-e2e-1"
    order_id = placed.json()["id"]

    def erp_consumer() -> ReceivedSpan | None:
        return next(
            (
                s
                for s in received.spans
                if s.kind == "consumer"
                and s.attributes.get("ordersync.order_id") == order_id
                and s.attributes.get("ordersync.event_type") == "order.accepted"
                and s.attributes.get("ordersync.destination") == "erp"
                and any(c.parent_id == s.span_id for c in received.spans)
            ),
            None,
        )

    wait_until(lambda: erp_consumer() is not None, 60, "the ERP delivery's spans exported")
    consumer = erp_consumer()
    assert consumer is not None
    spans = {s.span_id: s for s in received.spans if s.trace_id == consumer.trace_id}
    producer = spans[str(consumer.parent_id)]
    server = spans[str(producer.parent_id)]
    [erp_call] = [
        s
        for s in spans.values()
        if s.parent_id == consumer.span_id
        and s.kind == "client"
        and "/erp/" in str(s.attributes.get("url.full", s.attributes.get("http.url")))
    ]
    assert (server.service, server.kind, server.parent_id) == ("ordersync-api", "server", None)
    assert server.name == "POST /v1/orders"
    assert (producer.service, producer.kind) == ("ordersync-relay", "producer")
    assert (consumer.service, consumer.kind) == ("ordersync-worker", "consumer")
    assert (erp_call.service, consumer.attributes["ordersync.attempt"]) == ("ordersync-worker", 1)
    assert producer.attributes["ordersync.channel"] == consumer.attributes["ordersync.channel"]
    assert consumer.attributes["ordersync.outcome"] == "applied"

    logs = {name: log_of(stack.processes[name]) for name in ("api", "relay", "worker")}
    for name, text in logs.items():
        lines = [json.loads(line) for line in text.splitlines() if line.strip()]
        assert lines, name  # every line an object (json.loads raised otherwise)
    api_lines = [json.loads(line) for line in logs["api"].splitlines() if line.strip()]
    [request_line] = [
        line
        for line in api_lines
        if line.get("http_path") == "/v1/orders" and line.get("http_method") == "POST"
    ]
    assert request_line["correlation_id"] == "corr-e2e-1"
    assert request_line["trace_id"] == server.trace_id
    assert request_line["span_id"] == server.span_id
