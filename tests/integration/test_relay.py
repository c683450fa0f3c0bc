"""The relay against real PostgreSQL and RabbitMQ (in this process; tests/e2e has the
process-level ones: kill -9, two relays, a broker restart)."""

from __future__ import annotations

import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import dramatiq
import pika
import pytest
import sqlalchemy as sa
from dramatiq.brokers.stub import StubBroker

from ops.wiring import QUEUES
from outbox.envelope import Envelope
from outbox.inprocess_publisher import InProcessPublisher
from outbox.messages import OutgoingMessage, message_id
from outbox.publisher import Confirmations, Publisher, PublisherError, PublishOutcome, Settled
from outbox.rabbitmq_publisher import RabbitPublisher
from outbox.relay import Relay
from tests.broker import delete_queues, drain
from tests.outbox_rows import TRACE, write_orders


def ledger(engine: sa.Engine) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT * FROM outbox_deliveries ORDER BY id")).all()


@pytest.fixture
def relay(engine: sa.Engine, broker_url: str) -> Any:
    relay = Relay(engine, RabbitPublisher(broker_url), queues=QUEUES, batch_size=500)
    yield relay
    relay.shutdown()


def test_committed_rows_become_dramatiq_messages_on_their_destination_queues(
    engine: sa.Engine, broker_url: str, relay: Relay
) -> None:
    deliveries = write_orders(engine, aggregates=10, events_each=2)
    assert deliveries == 30  # allocated → wms; backordered → wms + channel:web
    while relay.run_once():
        pass
    rows = ledger(engine)
    assert all(r.published_at is not None and r.status == "published" for r in rows)

    wms, channels = drain(broker_url, "wms"), drain(broker_url, "channels")
    assert (len(wms), len(channels)) == (20, 10)
    for raw in wms + channels:
        message = dramatiq.Message(**raw)  # what a Dramatiq worker decodes
        envelope = Envelope.model_validate(message.args[0])
        assert message.actor_name == f"{message.queue_name}.deliver"
        assert message.message_id == message_id(
            envelope.event_id, envelope.destination, envelope.generation
        )
        assert message.options["traceparent"] == TRACE.traceparent
        assert message.options["correlation_id"] == "corr-1"
        assert envelope.generation == 0
    assert {Envelope.model_validate(m["args"][0]).destination for m in channels} == {"channel:web"}

    by_aggregate: dict[str, list[int]] = defaultdict(list)
    for raw in wms:
        env = Envelope.model_validate(raw["args"][0])
        by_aggregate[env.aggregate_id].append(env.sequence)
    assert all(seqs == [1, 2] for seqs in by_aggregate.values())


def test_a_queue_deleted_behind_the_relays_back_leaves_rows_unpublished_with_the_error(
    engine: sa.Engine, broker_url: str, relay: Relay
) -> None:
    write_orders(engine, aggregates=3, events_each=1, prefix="first")
    assert relay.run_once() == 3
    delete_queues(broker_url, ["wms"])  # RabbitMQ would now confirm and drop
    write_orders(engine, aggregates=3, events_each=1, prefix="second")

    assert relay.run_once() == 0
    late = [r for r in ledger(engine) if r.aggregate_id.startswith("second")]
    assert all(r.published_at is None and r.status == "pending" for r in late)
    assert all("NO_ROUTE" in r.last_error for r in late)
    assert relay.stats.failed == 3 and "NO_ROUTE" in (relay.stats.last_error or "")

    # The next cycle connects again, declares the queue, and publishes.
    assert relay.run_once() == 3
    late = [r for r in ledger(engine) if r.aggregate_id.startswith("second")]
    assert all(r.published_at is not None and r.last_error is None for r in late)
    assert len(drain(broker_url, "wms")) == 3


def refuse_publishes(url: str, queue: str) -> None:
    """Behind the relay's back, `queue` becomes one that holds nothing and refuses what is
    published to it (x-max-length 0, reject-publish): RabbitMQ nacks every publish."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        channel.queue_delete(queue)
        arguments = {"x-max-length": 0, "x-overflow": "reject-publish"}
        channel.queue_declare(queue, durable=True, arguments=arguments)
    finally:
        connection.close()


def test_a_publish_the_broker_nacks_stays_unpublished_with_the_reason_and_goes_out_later(
    engine: sa.Engine, broker_url: str, relay: Relay
) -> None:
    """A Basic.Nack is not a confirm: the row stays unpublished, the reason in last_error,
    and it goes out once the queue takes messages again."""
    write_orders(engine, aggregates=3, events_each=1, prefix="first")
    assert relay.run_once() == 3  # connected, the queues declared
    refuse_publishes(broker_url, "wms")
    write_orders(engine, aggregates=3, events_each=1, prefix="second")

    assert relay.run_once() == 0
    late = [r for r in ledger(engine) if r.aggregate_id.startswith("second")]
    assert len(late) == 3
    assert all(r.published_at is None and r.status == "pending" for r in late)
    assert all("nack" in r.last_error for r in late)
    assert relay.stats.failed == 3 and "nack" in (relay.stats.last_error or "")
    # The nacks were nacks, not returns: the queue existed and was routed to.
    assert all("NO_ROUTE" not in r.last_error for r in late)

    # While the refusing queue stands, the relay cannot declare its own (other arguments):
    # it publishes nothing, and marks nothing.
    with pytest.raises(PublisherError, match="PRECONDITION_FAILED"):
        relay.run_once()
    assert all(r.published_at is None for r in ledger(engine) if r.aggregate_id.startswith("sec"))

    delete_queues(broker_url, ["wms"])  # the queue is normal again once the relay declares it
    assert relay.run_once() == 3
    late = [r for r in ledger(engine) if r.aggregate_id.startswith("second")]
    assert all(r.published_at is not None and r.last_error is None for r in late)
    received = [Envelope.model_validate(m["args"][0]) for m in drain(broker_url, "wms")]
    assert sorted(e.aggregate_id for e in received) == [f"second-{i}" for i in range(3)]


def test_an_unconfirmed_batch_is_not_marked(engine: sa.Engine, broker_url: str) -> None:
    """A publisher that cannot reach the broker marks nothing, and loses nothing."""
    write_orders(engine, aggregates=5, events_each=1)
    dead = Relay(
        engine,
        RabbitPublisher("amqp://guest:guest@127.0.0.1:1/", connect_timeout=2),
        queues=QUEUES,
    )
    with pytest.raises(Exception, match="connect"):
        dead.run_once()
    assert all(r.published_at is None for r in ledger(engine))
    live = Relay(engine, RabbitPublisher(broker_url), queues=QUEUES)
    try:
        assert live.run_once() == 5
    finally:
        live.shutdown()


def test_the_embedded_relay_publishes_into_the_in_process_broker(engine: sa.Engine) -> None:
    broker = StubBroker()
    relay = Relay(engine, InProcessPublisher(broker), queues=QUEUES, batch_size=7)
    write_orders(engine, aggregates=20, events_each=2)
    published = 0
    while n := relay.run_once():
        published += n
    assert published == 60
    assert broker.queues["wms"].qsize() == 40 and broker.queues["channels"].qsize() == 20
    ids = {dramatiq.Message.decode(broker.queues["wms"].get()).message_id for _ in range(40)}
    assert len(ids) == 40 and all(uuid.UUID(i.split("/")[0]) for i in ids)


def test_the_pipelined_loop_overlaps_batches_and_recovers_from_a_failed_one(
    engine: sa.Engine, broker_url: str
) -> None:
    """run() keeps a second batch in flight; a failed batch (its queue deleted) takes the
    one behind it down too, then the loop reconnects, re-declares, publishes all."""
    write_orders(engine, aggregates=200, events_each=3)  # 600 wms, 300 channel rows
    relay = Relay(engine, RabbitPublisher(broker_url), queues=QUEUES, batch_size=50)
    open_batches, peak = 0, 0
    start, finish = relay._start, relay._finish

    def counted_start(**options: Any) -> Any:
        nonlocal open_batches, peak
        batch = start(**options)
        if batch is not None:
            open_batches += 1
            peak = max(peak, open_batches)
        return batch

    def counted_finish(batch: Any, **options: Any) -> int:
        nonlocal open_batches
        try:
            return finish(batch, **options)
        finally:
            open_batches -= 1

    relay._start = counted_start  # type: ignore[method-assign]
    relay._finish = counted_finish  # type: ignore[method-assign]
    relay.publisher.connect(["wms", "channels"])
    delete_queues(broker_url, ["wms"])  # behind the connected publisher's back
    stop = threading.Event()
    worker = threading.Thread(target=relay.run, args=(stop,))
    worker.start()
    try:
        deadline = time.monotonic() + 30
        while any(r.published_at is None for r in ledger(engine)):
            assert time.monotonic() < deadline, "relay did not catch up"
            time.sleep(0.05)
    finally:
        stop.set()
        worker.join(10)
    assert peak == 2  # a second batch was claimed while the first awaited its confirms
    assert relay.stats.failed > 0 and "NO_ROUTE" in " ".join(
        [*relay.stats.errors, relay.stats.last_error or ""]
    )
    ids = {r.id for r in ledger(engine)}
    received: dict[str, list[int]] = defaultdict(list)
    for raw in drain(broker_url, "wms") + drain(broker_url, "channels"):
        envelope = Envelope.model_validate(raw["args"][0])
        received[f"{envelope.aggregate_id}/{envelope.destination}"].append(envelope.sequence)
        ids.discard(raw["options"]["delivery_id"])
    assert ids == set()  # every row arrived (a failed batch's rows may arrive twice)
    # each aggregate's first copies in sequence order (re-sent duplicates come later)
    for sequences in received.values():
        assert list(dict.fromkeys(sequences)) == list(range(1, len(set(sequences)) + 1))


class FlakyBroker(Publisher):
    """A broker whose connection drops while the first batch is in flight, then refuses
    two reconnections, then works: the relay must survive it and lose nothing."""

    def __init__(self) -> None:
        self.is_connected = False
        self.refusals = 2
        self.sends = 0
        self.delivered: list[int] = []

    @property
    def connected(self) -> bool:
        return self.is_connected

    def connect(self, queues: Sequence[str]) -> None:
        if self.sends and self.refusals:
            self.refusals -= 1
            raise PublisherError("connection refused")
        self.is_connected = True

    def send(self, messages: Sequence[OutgoingMessage]) -> Confirmations:
        self.sends += 1
        if self.sends == 1:  # dropped before any confirm came back
            self.is_connected = False
            return Settled(
                PublishOutcome(failed={m.delivery_id: "connection lost" for m in messages})
            )
        self.delivered += [m.delivery_id for m in messages]
        return Settled(PublishOutcome(confirmed=[m.delivery_id for m in messages]))

    def close(self) -> None:
        self.is_connected = False


def test_the_connection_dropping_with_a_batch_in_flight_loses_nothing_and_the_relay_lives(
    engine: sa.Engine,
) -> None:
    write_orders(engine, aggregates=50, events_each=2)  # 150 rows
    broker = FlakyBroker()
    relay = Relay(engine, broker, queues=QUEUES, batch_size=40, idle_poll_max=0.01)
    stop = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            relay.run(stop)
        except BaseException as error:
            errors.append(error)

    worker = threading.Thread(target=run)
    worker.start()
    try:
        deadline = time.monotonic() + 20
        while any(r.published_at is None for r in ledger(engine)):
            assert worker.is_alive(), f"the relay died: {errors!r}"
            assert time.monotonic() < deadline, "relay did not catch up"
            time.sleep(0.05)
    finally:
        stop.set()
        worker.join(10)
    assert errors == [] and broker.refusals == 0
    assert sorted(broker.delivered) == sorted(r.id for r in ledger(engine))
    with engine.connect() as conn:  # no claim left open holding rows
        locked = conn.execute(
            sa.text(
                "SELECT count(*) FROM (SELECT id FROM outbox_deliveries FOR UPDATE SKIP LOCKED) s"
            )
        ).scalar_one()
    assert locked == 150
