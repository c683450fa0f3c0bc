"""`ordersync relay`: composition of the relay process (leases, wake-up, publisher, signals)."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from typing import Any

import psycopg

from adapters.db.engine import raw_postgres_dsn
from ops import bootstrap, telemetry
from ops.metrics.install import install_relay
from ops.settings import Settings
from ops.wiring import QUEUES
from outbox.leases import Leases
from outbox.rabbitmq_publisher import RabbitPublisher
from outbox.relay import DEFAULT_BATCH_SIZE, Relay
from outbox.writer import NOTIFY_CHANNEL

log = logging.getLogger("ordersync.relay")

# How often a relay on NOTIFY looks anyway (a lost notification, rows made unpublished
# by a transaction that did not notify): a lost wake-up costs at most this.
NOTIFY_SAFETY_POLL_S = 1.0


def lease_connection(settings: Settings, name: str) -> psycopg.Connection[Any]:
    """The relay's own connection: it holds the leases, so it must die with the relay.

    TCP keepalives make the server notice a vanished host within seconds, and drop
    the advisory locks (the leases) with the connection.
    """
    return psycopg.connect(
        raw_postgres_dsn(settings.require_database_url()),
        autocommit=True,
        application_name=name,
        keepalives=1,
        keepalives_idle=5,
        keepalives_interval=2,
        keepalives_count=3,
    )


def notify_waiter(conn: psycopg.Connection[Any]) -> Any:
    """Wait up to `timeout` seconds for a NOTIFY from a committing writer."""
    conn.execute(f"LISTEN {NOTIFY_CHANNEL}")

    def wait(timeout: float) -> None:
        for _ in conn.notifies(timeout=timeout, stop_after=1):
            pass
        # and every other one already here: one claim serves them all
        for _ in conn.notifies(timeout=0):
            pass

    return wait


def run_relay(
    settings: Settings, *, name: str | None = None, batch_size: int = DEFAULT_BATCH_SIZE
) -> None:
    if settings.embedded or not settings.broker_url:
        raise SystemExit(
            "ordersync relay needs ORDERSYNC_DATABASE_URL (PostgreSQL) and ORDERSYNC_BROKER_URL; "
            "the embedded default runs its relay inside `ordersync demo`"
        )
    name = name or f"ordersync-relay-{socket.gethostname()}-{os.getpid()}"
    telemetry.configure("ordersync-relay")
    engine = bootstrap.engine_for(settings.model_copy(update={"db_pool_size": 2}))
    conn = lease_connection(settings, name)
    leases = Leases(conn)
    slot = leases.join()
    publisher = RabbitPublisher(settings.broker_url, quorum=settings.quorum_queues)
    relay = Relay(
        engine,
        publisher,
        queues=QUEUES,
        leases=leases,
        wait_for_rows=notify_waiter(conn) if settings.outbox_notify else None,
        batch_size=batch_size,
        # With NOTIFY the wait is cut short by every commit; polling is the safety net.
        idle_poll_max=NOTIFY_SAFETY_POLL_S
        if settings.outbox_notify
        else settings.relay_idle_poll_max_s,
    )
    metrics = install_relay(settings.metrics_host, settings.metrics_port)
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("signal %d: finishing the batch in hand, then releasing the leases", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info("relay %s (member %d) started", name, slot)
    try:
        relay.run(stop)
    finally:
        conn.close()
        engine.dispose()
        if metrics is not None:
            metrics.shutdown()
        log.info("relay %s stopped: %d published", name, relay.stats.published)
