"""The product's hooks against real PostgreSQL: the relay reports every batch phase by
phase, and a worker reports each delivery's guard and handler time as the guard itself
measures them; with nobody listening, neither builds a report."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

import dramatiq
import pytest
import sqlalchemy as sa
from dramatiq.brokers.stub import StubBroker

from actors import middleware
from actors.clients import SystemClients
from actors.middleware import DeliveryReport, delivery_hooks
from actors.registry import Policy, register
from actors.systems import SYSTEMS
from ops.wiring import QUEUES
from outbox import hooks as relay_hooks_module
from outbox.hooks import BatchReport, RelayHooks
from outbox.inprocess_publisher import InProcessPublisher
from outbox.messages import OutgoingMessage
from outbox.publisher import Confirmations, Publisher, PublishOutcome, Settled
from outbox.relay import Relay
from simulators.app import init_sim_app
from simulators.server import ServerThread
from tests.outbox_rows import write_orders

PHASES = ["claim", "build", "publish", "confirm", "mark"]


class RefusingPublisher(Publisher):
    """Takes every message but those of the WMS queue, which it reports returned."""

    def __init__(self) -> None:
        self.is_connected = False

    @property
    def connected(self) -> bool:
        return self.is_connected

    def connect(self, queues: Sequence[str]) -> None:
        self.is_connected = True

    def send(self, messages: Sequence[OutgoingMessage]) -> Confirmations:
        outcome = PublishOutcome()
        for m in messages:
            if m.queue_name == "wms":
                outcome.failed[m.delivery_id] = "returned: NO_ROUTE"
            else:
                outcome.confirmed.append(m.delivery_id)
        return Settled(outcome)

    def close(self) -> None:
        self.is_connected = False


def _published(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        sql = "SELECT count(*) FROM outbox_deliveries WHERE published_at IS NOT NULL"
        return int(conn.execute(sa.text(sql)).scalar_one())


def test_the_relay_reports_each_batch_phase_by_phase(engine: sa.Engine) -> None:
    rows = write_orders(engine, aggregates=30, events_each=2)  # 60 wms + 30 channel rows
    hooks = RelayHooks()
    reports: list[BatchReport] = []
    hooks.subscribe(reports.append)
    relay = Relay(
        engine, InProcessPublisher(StubBroker()), queues=QUEUES, batch_size=40, hooks=hooks
    )
    before = time.time()
    while relay.run_once():
        pass
    after = time.time()

    assert [sum(s.count for s in r.spans if s.name == "claim") for r in reports] == [40, 40, 10]
    for report in reports:
        assert [s.name for s in report.spans] == PHASES
        claimed = report.span("claim").count
        assert [s.count for s in report.spans] == [claimed] * 5
        assert len(report.confirmed) == claimed and not report.failed
        # One after the other, inside the run, none taking long on a local database.
        for earlier, later in zip(report.spans, report.spans[1:], strict=False):
            assert earlier.started_at <= earlier.ended_at <= later.started_at
        assert before <= report.started_at and report.ended_at <= after
        assert all(0 <= s.seconds < 10 for s in report.spans)
        assert report.span("claim").seconds > 0
    assert sorted(i for r in reports for i in r.confirmed) == list(range(1, rows + 1))


def test_a_batch_report_names_what_the_broker_refused(engine: sa.Engine) -> None:
    write_orders(engine, aggregates=10, events_each=1)  # 10 wms rows (allocated)
    write_orders(engine, aggregates=5, events_each=2, prefix="p")  # 10 wms + 5 channel
    hooks = RelayHooks()
    reports: list[BatchReport] = []
    hooks.subscribe(reports.append)
    Relay(engine, RefusingPublisher(), queues=QUEUES, hooks=hooks).run_once()

    (report,) = reports
    assert report.span("claim").count == 25
    assert (len(report.confirmed), len(report.failed)) == (5, 20)
    assert report.span("confirm").count == 5 and report.span("mark").count == 25
    assert set(report.failed.values()) == {"returned: NO_ROUTE"}
    assert _published(engine) == 5


def test_an_unobserved_relay_builds_no_report(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[object] = []

    class CountedReport(BatchReport):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            built.append(self)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(relay_hooks_module, "BatchReport", CountedReport)
    rows = write_orders(engine, aggregates=20, events_each=1)
    hooks = RelayHooks()
    relay = Relay(
        engine, InProcessPublisher(StubBroker()), queues=QUEUES, batch_size=7, hooks=hooks
    )
    while relay.run_once():
        pass
    assert _published(engine) == rows and built == []

    hooks.subscribe(lambda report: None)  # the counter itself works
    write_orders(engine, aggregates=3, events_each=1, prefix="q")
    relay.run_once()
    assert len(built) == 1


@pytest.fixture
def sim() -> Iterator[str]:
    with ServerThread(init_sim_app(seed=1)) as server:
        yield server.url


def test_a_worker_reports_each_delivery_with_the_guards_phases(database_url: str, sim: str) -> None:
    from adapters.db.engine import make_engine

    engine = make_engine(database_url, pool_size=6)
    broker = StubBroker()
    broker.emit_after("process_boot")
    clients = SystemClients.create(engine, SYSTEMS.urls_at(sim))
    reports: list[DeliveryReport] = []
    unsubscribe = delivery_hooks.subscribe(reports.append)
    worker = None
    try:
        write_orders(engine, aggregates=4, events_each=1)  # o-0..o-3, order.allocated → wms
        register(broker, engine, clients, Policy())
        assert sum(isinstance(m, middleware.DeliveryTiming) for m in broker.middleware) == 1
        while Relay(engine, InProcessPublisher(broker), queues=QUEUES).run_once():
            pass
        # A copy of one message, sent again: the guard finds it in the inbox.
        first = broker.queues["wms"].queue[0]
        broker.enqueue(dramatiq.Message.decode(first))
        worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=50)
        worker.start()
        broker.join("wms", timeout=30_000)
        worker.join()
    finally:
        unsubscribe()
        if worker is not None:
            worker.stop()
        clients.close()
        engine.dispose()

    applied = [r for r in reports if r.outcome == "applied"]
    assert len(applied) == 4 and len(reports) == 5
    assert [r.outcome for r in reports if r not in applied] == ["duplicate"]
    for report in reports:
        assert (report.destination, report.event_type) == ("wms", "order.allocated")
        assert report.actor_name.startswith("wms") and report.queue_name == "wms"
        assert 0 <= report.queue_seconds < 30
        guard = report.span("guard")
        assert guard is not None and report.started_at <= guard.started_at
        assert guard.ended_at <= report.ended_at and report.guard_seconds > 0
    for report in applied:
        handler = report.span("handler")  # the simulated WMS's HTTP call, inside the guard
        assert handler is not None and 0 < report.handler_seconds < 10
        guard = report.span("guard")
        assert guard is not None and guard.started_at < handler.started_at
        assert handler.ended_at < guard.ended_at
    duplicate = next(r for r in reports if r.outcome == "duplicate")
    assert duplicate.span("handler") is None and duplicate.handler_seconds == 0
