"""Deliver what the outbox holds, in this process: the relay into Dramatiq's in-process
broker (which carries each message's body, options included, as RabbitMQ would), and real
worker threads running the actors against the simulators."""

from __future__ import annotations

import dramatiq
import sqlalchemy as sa
from dramatiq.brokers.stub import StubBroker

from actors.clients import SystemClients
from actors.registry import Policy, register
from actors.systems import SYSTEMS
from ops.wiring import QUEUES
from outbox.inprocess_publisher import InProcessPublisher
from outbox.relay import Relay

QUICK = Policy(attempts=2, min_backoff_ms=10, max_backoff_ms=20)


def deliver_everything(engine: sa.Engine, sim: str, policy: Policy = QUICK) -> None:
    """Relay every committed row, then run the actors until every queue is empty."""
    broker = StubBroker()
    broker.emit_after("process_boot")
    clients = SystemClients.create(engine, SYSTEMS.urls_at(sim))
    worker = None
    try:
        register(broker, engine, clients, policy)
        while Relay(engine, InProcessPublisher(broker), queues=QUEUES).run_once():
            pass
        worker = dramatiq.Worker(broker, worker_threads=2)
        worker.start()
        for queue in QUEUES:
            broker.join(queue, timeout=30_000)
        worker.join()
    finally:
        if worker is not None:
            worker.stop()
        clients.close()
