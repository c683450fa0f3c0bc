"""`ordersync worker`: Dramatiq workers for the destination queues, and the health probe."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

import dramatiq
import sqlalchemy as sa
from dramatiq.brokers.stub import StubBroker

from actors.broker import OrdersyncRabbitmqBroker
from actors.clients import SystemClients
from actors.probe import run_probe
from actors.registry import Policy, register
from actors.systems import SYSTEMS, Systems
from ops import bootstrap, telemetry
from ops.metrics.install import install_worker
from ops.settings import Settings
from ops.wiring import queues as queues_of

log = logging.getLogger("ordersync.worker")


def make_broker(settings: Settings) -> dramatiq.Broker:
    if settings.broker_url and not settings.embedded:
        broker = OrdersyncRabbitmqBroker(
            url=settings.broker_url, quorum=settings.quorum_queues, confirm_delivery=True
        )
    else:
        broker = StubBroker()
    dramatiq.set_broker(broker)
    return broker


def start_workers(
    settings: Settings,
    engine: sa.Engine,
    broker: dramatiq.Broker,
    *,
    queues: list[str] | None = None,
    threads: int = 8,
    policy: Policy | None = None,
    systems: Systems = SYSTEMS,
) -> tuple[dramatiq.Worker, SystemClients, threading.Event]:
    """Register the actors of `systems` and the channels', start the worker threads and the
    probe; returns what to stop. `queues`: a subset of them (default: all)."""
    known = queues_of(systems)
    unknown = sorted(set(queues or ()) - set(known))
    if unknown:
        raise ValueError(f"unknown queues {', '.join(unknown)}; choose from {', '.join(known)}")
    clients = SystemClients.create(
        engine,
        settings.system_urls,
        settings.client_timeout_s,
        systems=systems,
        secret_box=bootstrap.secret_box(settings),
    )
    register(broker, engine, clients, policy or Policy())
    worker = dramatiq.Worker(broker, queues=set(queues or known), worker_threads=threads)
    worker.start()
    stop = threading.Event()
    threading.Thread(
        target=run_probe,
        args=(engine, clients.healthy, stop, settings.probe_interval_s),
        name="health-probe",
        daemon=True,
    ).start()
    return worker, clients, stop


def run_worker(settings: Settings, *, queues: list[str], threads: int) -> None:
    if settings.embedded or not settings.broker_url:
        raise SystemExit(
            "ordersync worker needs ORDERSYNC_DATABASE_URL (PostgreSQL) and ORDERSYNC_BROKER_URL; "
            "the embedded default runs its workers inside `ordersync demo`"
        )
    telemetry.configure("ordersync-worker")
    engine = bootstrap.engine_for(settings.model_copy(update={"db_pool_size": threads + 2}))
    metrics = install_worker(settings.metrics_host, settings.metrics_port)
    broker = make_broker(settings)
    worker, clients, stop = start_workers(settings, engine, broker, queues=queues, threads=threads)
    done = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("signal %d: finishing the messages in hand", signum)
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info("worker started: queues %s, %d threads", ", ".join(queues or queues_of()), threads)
    done.wait()
    stop.set()
    worker.stop()
    broker.close()
    clients.close()
    engine.dispose()
    if metrics is not None:
        metrics.shutdown()
