"""No personal data in a worker's log: a delivery that fails, is retried and dies, handled by
real Dramatiq worker threads against the simulated WMS, logs the event's ids, type,
destination, aggregate, attempt and reason — never the payload or a customer field."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import dramatiq
import httpx
import pytest
import sqlalchemy as sa
from dramatiq.brokers.stub import StubBroker

from actors.clients import SystemClients
from actors.registry import Policy, register
from actors.systems import SYSTEMS
from adapters.db.engine import make_engine
from ops.wiring import QUEUES
from outbox.inprocess_publisher import InProcessPublisher
from outbox.relay import Relay
from simulators.app import init_sim_app
from simulators.server import ServerThread
from tests.outbox_rows import SHIP_TO, write_orders

pytestmark = pytest.mark.integration

CUSTOMER_FIELDS = [SHIP_TO["name"], SHIP_TO["line1"], SHIP_TO["city"]]


@pytest.fixture
def sim() -> Iterator[str]:
    with ServerThread(init_sim_app(seed=1)) as server:
        yield server.url


def test_the_log_of_a_failing_delivery_holds_no_customer_field(
    database_url: str, sim: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # Dramatiq prints whole messages at DEBUG too
    caplog.set_level(logging.DEBUG, logger="dramatiq")  # (the demo, run earlier, quiets it)
    engine = make_engine(database_url, pool_size=6)
    broker = StubBroker()
    broker.emit_after("process_boot")
    clients = SystemClients.create(engine, SYSTEMS.urls_at(sim))
    worker = None
    try:
        write_orders(engine, aggregates=3, events_each=1)  # o-0..o-2, order.allocated → wms
        # The WMS fails every document of o-0 with a 500 while it takes the others.
        faults = {"fail_matching": ['"o-0"']}
        assert httpx.post(f"{sim}/_sim/wms/faults", json=faults).status_code == 200
        register(
            broker,
            engine,
            clients,
            Policy(attempts=2, poison_attempts=3, min_backoff_ms=10, max_backoff_ms=20),
        )
        while Relay(engine, InProcessPublisher(broker), queues=QUEUES).run_once():
            pass
        worker = dramatiq.Worker(broker, worker_threads=2)
        worker.start()
        broker.join("wms", timeout=30_000)
        worker.join()
    finally:
        if worker is not None:
            worker.stop()
        clients.close()

    with engine.connect() as conn:
        statuses = dict(
            conn.execute(
                sa.text(
                    "SELECT aggregate_id, status FROM outbox_deliveries WHERE destination = 'wms'"
                )
            ).all()
        )
        (dead,) = conn.execute(sa.text("SELECT event_id, error FROM dead_letters")).all()
    engine.dispose()
    assert statuses == {"o-0": "dead", "o-1": "applied", "o-2": "applied"}
    text = "\n".join(logging.Formatter().format(r) for r in caplog.records)
    # The failure was logged, by its ids…
    assert f"{dead.event_id}" in text and "retrying" in text and "dead letter" in text
    assert "Received message" in text  # …and Dramatiq's own lines about messages are there…
    for field in CUSTOMER_FIELDS:  # …but no field of the customer, anywhere
        assert field not in text, field
