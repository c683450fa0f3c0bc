"""`ordersync demo`: the whole flow in one process, through the real HTTP app.

With no ORDERSYNC_DATABASE_URL it runs on an embedded SQLite file and publishes
into Dramatiq's in-process broker; with the URLs set, on that database (migrated
first) and RabbitMQ. The relay runs beside the API in this process. The actors
and the simulators join with the actors issue.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import sqlalchemy as sa
from aiohttp import web
from dramatiq.brokers.stub import StubBroker
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from adapters.db import registry
from ops import bootstrap
from ops.settings import load_settings
from outbox.inprocess_publisher import InProcessPublisher
from outbox.publisher import Publisher
from outbox.rabbitmq_publisher import RabbitPublisher
from outbox.relay import Relay
from simulators.traffic import OrderGenerator, catalog

LOCATIONS = [("WH-EAST", "warehouse", 10), ("WH-WEST", "warehouse", 20), ("STORE-LIS", "store", 50)]
CHANNELS = [("web-eu", "canonical"), ("marketplace", "b2b"), ("pos-lisbon", "pos")]


def _fresh_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _register(engine: sa.Engine, suffix: str) -> dict[str, str]:
    with engine.begin() as conn:
        for code, type_, priority in LOCATIONS:
            registry.add_location(conn, code, type_, priority)
        return {
            f"{name}{suffix}": registry.add_channel(conn, f"{name}{suffix}", kind)
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
    stats: dict[str, Any] = {"status": Counter(), "replayed": 0, "errors": Counter()}
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


SUMMARY = {
    "orders by status": "SELECT status, count(*) AS orders FROM orders GROUP BY status ORDER BY 1",
    "reservations by location": "SELECT location, count(*) AS reservations, sum(quantity) AS units"
    " FROM reservations GROUP BY location ORDER BY 1",
    "outbox events by type": "SELECT event_type, count(*) AS events FROM outbox_events"
    " GROUP BY event_type ORDER BY 1",
    "delivery ledger": "SELECT destination, status, count(*) AS deliveries FROM outbox_deliveries"
    " GROUP BY destination, status ORDER BY 1, 2",
}


def _summary(engine: sa.Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        results = {title: conn.execute(sa.text(q)) for title, q in SUMMARY.items()}
        return {title: (list(r.keys()), r.all()) for title, r in results.items()}


def run_demo(*, orders: int, concurrency: int, sqlite_file: str, console: Console) -> None:
    for noisy in ("alembic", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    settings = load_settings()
    suffix = ""
    if settings.embedded:
        path = Path(sqlite_file).resolve()
        _fresh_sqlite(path)
        settings = load_settings(database_url=f"sqlite:///{path}")
        console.print(f"[bold]ordersync demo[/] on the embedded database {path}")
    else:
        suffix = f"-{secrets.token_hex(3)}"  # a shared database keeps earlier demo channels
        console.print("[bold]ordersync demo[/] on ORDERSYNC_DATABASE_URL")
    admin = settings.admin_token or secrets.token_urlsafe(24)
    settings = settings.model_copy(update={"admin_token": admin})
    bootstrap.migrate(settings)
    engine = bootstrap.engine_for(settings)
    relay = Relay(engine, _publisher(settings), batch_size=500)
    stop = threading.Event()
    relay_thread = threading.Thread(target=relay.run, args=(stop,), name="demo-relay")
    try:
        keys = _register(engine, suffix)
        relay_thread.start()
        started = time.perf_counter()
        stats = asyncio.run(
            _serve_and_drive(settings, engine, admin, keys, orders, concurrency, console)
        )
        elapsed = time.perf_counter() - started
        _wait_for_relay(engine)
        stop.set()
        relay_thread.join(30)
        _print(console, stats, _summary(engine), orders, elapsed)
        console.print(
            f"relay: {relay.stats.published} messages published to "
            f"{'RabbitMQ' if settings.broker_url else 'the in-process broker'}"
        )
    finally:
        stop.set()
        engine.dispose()


def _publisher(settings: Any) -> Publisher:
    if settings.broker_url and not settings.embedded:
        return RabbitPublisher(settings.broker_url, quorum=settings.quorum_queues)
    # Pika cannot publish into Dramatiq's in-process broker: the embedded publisher can.
    return InProcessPublisher(StubBroker())


def _wait_for_relay(engine: sa.Engine, timeout: float = 60) -> None:
    """Until the relay has published the whole outbox (it runs beside the API)."""
    query = sa.text("SELECT count(*) FROM outbox_deliveries WHERE published_at IS NULL")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            if conn.execute(query).scalar_one() == 0:
                return
        time.sleep(0.1)


async def _serve_and_drive(
    settings: Any,
    engine: sa.Engine,
    admin: str,
    keys: dict[str, str],
    orders: int,
    concurrency: int,
    console: Console,
) -> dict[str, Any]:
    runner = web.AppRunner(bootstrap.http_app(settings, engine))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        return await _drive(f"http://{host}:{port}", admin, keys, orders, concurrency, console)
    finally:
        await runner.cleanup()


def _print(
    console: Console,
    stats: dict[str, Any],
    summary: dict[str, Any],
    orders: int,
    elapsed: float,
) -> None:
    accepted = sum(stats["status"].values())
    console.print(
        f"{accepted} of {orders} orders accepted in {elapsed:.1f}s "
        f"({accepted / elapsed:.0f}/s); {stats['replayed']} repeats answered with the stored order"
    )
    if stats["errors"]:
        console.print(f"[red]errors:[/] {dict(stats['errors'])}")
    for title, (columns, rows) in summary.items():
        table = Table(title=title)
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*(str(v) for v in row))
        console.print(table)
