"""One trace per order journey: an in-memory span exporter follows one order from the api's
request through its transaction, the relay's publish and the ERP actor's delivery down to
the HTTP call to the (simulated) ERP — the real app, real PostgreSQL, the relay and real
Dramatiq worker threads in this process (the in-process broker carries the message as
RabbitMQ would: its body, options included, is what the relay encoded)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import dramatiq
import pytest
import sqlalchemy as sa
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from adapters.http.keys import HttpConfig
from ops import telemetry
from ops.bootstrap import product_app
from ops.wiring import QUEUES
from outbox.messages import OutgoingMessage
from outbox.publisher import Confirmations, Publisher, PublishOutcome, Settled
from outbox.relay import Relay
from simulators.app import init_sim_app
from simulators.server import ServerThread
from tests.factories import CONTRACT_ORDER
from tests.integration.conftest import Keys, stock
from tests.integration.deliveries import deliver_everything
from tests.outbox_rows import TRACE, write_orders
from tests.shopify_docs import SECRET, SHOP, delivery, raw
from tests.webhooks import post_delivery, settle, webhook_channel, webhook_config

pytestmark = pytest.mark.integration

CALLER_TRACE = "0af7651916cd43dd8448eb211c80319c"
CALLER_SPAN = "b7ad6b7169203331"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on for this test, into memory (off again after it)."""
    exporter = InMemorySpanExporter()
    telemetry.configure("ordersync-test", exporter=exporter)
    yield exporter
    telemetry.reset()


@pytest.fixture
async def traced(
    spans: InMemorySpanExporter, aiohttp_client: Any, engine: sa.Engine, http_config: HttpConfig
) -> Any:
    """The product's app, made once tracing is on (the instrumentation wraps new apps)."""
    return await aiohttp_client(product_app(engine, http_config, threads=4))


@pytest.fixture
def sim() -> Iterator[str]:
    with ServerThread(init_sim_app(seed=1)) as server:
        yield server.url


def hex_ids(span: ReadableSpan) -> tuple[str, str]:
    assert span.context is not None
    return f"{span.context.trace_id:032x}", f"{span.context.span_id:016x}"


def attrs(span: ReadableSpan) -> Mapping[str, Any]:
    return span.attributes or {}


def flags(span: ReadableSpan) -> str:
    assert span.context is not None
    return f"{span.context.trace_flags:02x}"  # sampled (01), and random (02) when it made the id


def parent_of(span: ReadableSpan) -> str | None:
    return None if span.parent is None else f"{span.parent.span_id:016x}"


def one(found: list[ReadableSpan], what: str) -> ReadableSpan:
    assert len(found) == 1, f"{what}: {[s.name for s in found]}"
    return found[0]


async def place_order(client: Any, keys: Keys, **headers: str) -> str:
    await stock(client, keys, {"sku": "TEE-M-BLK", "location": "WH-EAST", "set_on_hand": 10})
    response = await client.post(
        "/v1/orders", json=CONTRACT_ORDER, headers={**Keys.bearer(keys.web), **headers}
    )
    assert response.status == 201, await response.text()
    return str((await response.json())["id"])


async def test_one_trace_follows_an_order_from_the_request_to_the_erps_http_call(
    traced: Any, keys: Keys, engine: sa.Engine, sim: str, spans: InMemorySpanExporter
) -> None:
    order_id = await place_order(traced, keys, **{"X-Correlation-ID": "corr-trace-1"})
    deliver_everything(engine, sim)
    finished = spans.get_finished_spans()

    server = one(
        [
            s
            for s in finished
            if s.kind is SpanKind.SERVER
            and s.attributes is not None
            and s.attributes.get("http.method", s.attributes.get("http.request.method")) == "POST"
            and "/v1/orders" in s.name
        ],
        "the order request's server span",
    )
    trace_id, server_span = hex_ids(server)
    assert server.parent is None  # the caller sent no traceparent: the api's span is the root
    in_trace = [s for s in finished if hex_ids(s)[0] == trace_id]

    # The request's database work (on the thread pool) is its child: the order's insert.
    inserts = [
        s
        for s in in_trace
        if attrs(s).get("db.system") == "postgresql"
        and "INSERT INTO orders" in str(attrs(s).get("db.statement"))
    ]
    assert [parent_of(s) for s in inserts] == [server_span]

    # What the transaction stored: the server span itself, on every outbox row of the order.
    with engine.connect() as conn:
        stored = set(
            conn.execute(
                sa.text("SELECT traceparent FROM outbox_events WHERE aggregate_id = :o"),
                {"o": order_id},
            ).scalars()
        )
    assert stored == {f"00-{trace_id}-{server_span}-{flags(server)}"}

    def for_erp(kind: SpanKind) -> ReadableSpan:
        return one(
            [
                s
                for s in in_trace
                if s.kind is kind
                and attrs(s).get("ordersync.destination") == "erp"
                and attrs(s).get("ordersync.event_type") == "order.accepted"
            ],
            f"the erp {kind.name} span",
        )

    producer, consumer = for_erp(SpanKind.PRODUCER), for_erp(SpanKind.CONSUMER)
    assert parent_of(producer) == server_span
    assert parent_of(consumer) == hex_ids(producer)[1]
    for span in (producer, consumer):
        attributes = attrs(span)
        assert attributes["ordersync.order_id"] == order_id
        assert attributes["ordersync.channel"] == "web"
    assert attrs(consumer)["ordersync.attempt"] == 1
    assert attrs(consumer)["ordersync.outcome"] == "applied"
    assert producer.status.status_code is not StatusCode.ERROR  # the broker took it

    # The actor's call to the ERP: an httpx client span, the consumer span's child.
    erp_calls = [
        s
        for s in in_trace
        if s.kind is SpanKind.CLIENT
        and parent_of(s) == hex_ids(consumer)[1]
        and "/erp/" in str(attrs(s).get("url.full", attrs(s).get("http.url")))
    ]
    assert erp_calls, [s.name for s in in_trace if s.kind is SpanKind.CLIENT]

    # Every destination's delivery of every event of the order joined the same trace (the
    # stock adjustment before it has a trace of its own).
    consumers = [
        s
        for s in finished
        if s.kind is SpanKind.CONSUMER and attrs(s).get("ordersync.order_id") == order_id
    ]
    assert {attrs(s)["ordersync.destination"] for s in consumers} >= {"erp", "wms"}
    assert {hex_ids(s)[0] for s in consumers} == {trace_id}


async def test_a_callers_traceparent_is_continued_not_replaced(
    traced: Any, keys: Keys, engine: sa.Engine, spans: InMemorySpanExporter
) -> None:
    traceparent = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"
    order_id = await place_order(traced, keys, traceparent=traceparent)
    server = one(
        [s for s in spans.get_finished_spans() if s.kind is SpanKind.SERVER and "orders" in s.name],
        "the order request's server span",
    )
    trace_id, server_span = hex_ids(server)
    assert (trace_id, parent_of(server)) == (CALLER_TRACE, CALLER_SPAN)
    with engine.connect() as conn:
        stored = conn.execute(
            sa.text("SELECT DISTINCT traceparent FROM outbox_events WHERE aggregate_id = :o"),
            {"o": order_id},
        ).scalar_one()
    # The api's own span, the caller's child: not the caller's span, which the relay's
    # spans would then skip over.
    assert stored == f"00-{CALLER_TRACE}-{server_span}-{flags(server)}"


async def test_untraced_the_door_makes_no_span_and_keeps_the_callers_traceparent(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    assert telemetry.active() is None
    traceparent = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"
    order_id = await place_order(client, keys, traceparent=traceparent)
    with engine.connect() as conn:
        stored = conn.execute(
            sa.text("SELECT DISTINCT traceparent FROM outbox_events WHERE aggregate_id = :o"),
            {"o": order_id},
        ).scalar_one()
    assert stored == traceparent
    assert uuid.UUID(order_id)


class RefusingOnce(Publisher):
    """A broker that refuses the first message it is sent, then takes everything; it keeps
    what it took."""

    def __init__(self) -> None:
        self.refused = False
        self.taken: list[OutgoingMessage] = []

    @property
    def connected(self) -> bool:
        return True

    def connect(self, queues: Sequence[str]) -> None:
        pass

    def send(self, messages: Sequence[OutgoingMessage]) -> Confirmations:
        outcome = PublishOutcome()
        for message in messages:
            if not self.refused:
                self.refused = True
                outcome.failed[message.delivery_id] = "NO_ROUTE: returned by the broker"
                continue
            self.taken.append(message)
            outcome.confirmed.append(message.delivery_id)
        return Settled(outcome)

    def close(self) -> None:
        pass


def test_a_producer_span_per_publish_parented_on_the_stored_traceparent_failures_in_error(
    engine: sa.Engine, spans: InMemorySpanExporter
) -> None:
    deliveries = write_orders(engine, aggregates=2, events_each=1)  # with TRACE's traceparent
    broker = RefusingOnce()
    relay = Relay(engine, broker, queues=QUEUES)
    while relay.run_once():
        pass
    producers = [s for s in spans.get_finished_spans() if s.kind is SpanKind.PRODUCER]
    stored_trace, stored_span = TRACE.traceparent.split("-")[1:3]  # type: ignore[union-attr]
    assert {(hex_ids(s)[0], parent_of(s)) for s in producers} == {(stored_trace, stored_span)}
    failed = [s for s in producers if s.status.status_code is StatusCode.ERROR]
    [refused] = failed
    assert "NO_ROUTE" in str(refused.status.description)
    # The refused row was published again by a later cycle, under a span of its own.
    again = [
        s
        for s in producers
        if attrs(s)["ordersync.delivery_id"] == attrs(refused)["ordersync.delivery_id"]
        and s is not refused
    ]
    assert len(again) == 1 and again[0].status.status_code is not StatusCode.ERROR
    # Each message carries its own producer span onward, not the stored traceparent.
    by_delivery = {attrs(s)["ordersync.delivery_id"]: s for s in producers if s not in failed}
    assert len(broker.taken) == len(by_delivery) == deliveries
    for message in broker.taken:
        options = dramatiq.Message.decode(message.body).options
        trace_id, span_id = hex_ids(by_delivery[message.delivery_id])
        assert options["traceparent"].split("-")[1:3] == [trace_id, span_id]


async def test_a_webhooks_order_applied_after_the_answer_joins_the_door_requests_trace(
    spans: InMemorySpanExporter, aiohttp_client: Any, keys: Keys, engine: sa.Engine
) -> None:
    client = await aiohttp_client(product_app(engine, webhook_config(), threads=4))
    webhook_channel(engine, "shop", "shopify", secret=SECRET, shop_domain=SHOP)
    for sku in ("TEE-M-BLK", "MUG-WHT"):
        await stock(client, keys, {"sku": sku, "location": "WH-EAST", "set_on_hand": 20})
    body = raw("orders_create")
    sent = delivery(body, "orders/create")
    status, answer = await post_delivery(client, "shopify", body, dict(sent.headers))
    assert status == 202, answer
    await settle(client)
    door = one(
        [
            s
            for s in spans.get_finished_spans()
            if s.kind is SpanKind.SERVER and "/v1/webhooks/" in s.name
        ],
        "the webhook's server span",
    )
    trace_id, door_span = hex_ids(door)
    with engine.connect() as conn:
        stored = set(
            conn.execute(
                sa.text(
                    "SELECT e.traceparent FROM outbox_events e JOIN inbound_deliveries d"
                    " ON e.aggregate_id = d.order_id::text WHERE d.id = :d"
                ),
                {"d": answer["delivery"]},
            ).scalars()
        )
    assert stored == {f"00-{trace_id}-{door_span}-{flags(door)}"}
