"""Webhook door benchmark: how fast a channel's delivery is acknowledged, beside the raw
rate of the one durable write the door must make before it answers.

    .venv/bin/python -m bench.webhooks [--seconds S] [--clients 1,8,32] [--repeats R]

One run, in a scratch database dropped at the end: a WooCommerce channel with a webhook
secret, stock of the fixture's SKUs, and `ordersync api` as a process of its own. Per
repeat and concurrency level, interleaved:
- *door*: N aiohttp clients looping signed order.created deliveries (each a new order)
  to POST /v1/webhooks/woocommerce/<channel>: the answer latency (the channel waits for
  it; WooCommerce gives up after a few seconds) and deliveries acknowledged per second;
- *raw*: plain psycopg 3, a thread and a connection per client, inserting the same inbox
  row (channel, delivery id, headers, body) one transaction each: what storing a delivery
  costs with nothing else.
The door applies each delivery after answering; the run then waits until every delivery
is applied and reports how long that took (the apply rate), resends a sample and checks
that every copy is answered `duplicate` and changes nothing, and counts the orders:
one per delivery. Figures compare within one run only; the ratio is the result.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psycopg

from adapters.channels.webhook import hmac_sha256_base64
from bench.common import (
    ROOT,
    connect,
    create_database,
    drop_database,
    med,
    pct,
    raw_dsn,
    runs,
    sa_url,
    table,
    terminate_on_sigterm,
    wait_until,
)
from bench.ingest import ApiProcess

SECRET_KEY = "bench-secret-key-not-secret-0123"
SECRET = "bench-woocommerce-webhook-secret"
CHANNEL = "bench-woo"
SITE = "https://bench-shop.example.com/"
FIXTURE = ROOT / "tests" / "fixtures" / "woocommerce" / "order-created.json"
MODES = ("door", "raw")


@dataclass
class Window:
    mode: str
    clients: int
    seconds: float
    sent: int = 0
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def ms(self, p: float) -> float:
        return pct(self.latencies, p) * 1000


class Deliveries:
    """Signed WooCommerce order.created deliveries, each a new order (id and delivery id
    unique in the run): the exact bytes and headers a shop would send."""

    def __init__(self) -> None:
        self.template = json.loads(FIXTURE.read_bytes())
        self.next_id = 10_000_000
        self.lock = threading.Lock()

    def make(self) -> tuple[bytes, dict[str, str]]:
        with self.lock:
            self.next_id += 1
            order_id = self.next_id
        document = {**self.template, "id": order_id, "number": str(order_id)}
        body = json.dumps(document).encode()
        return body, {
            "Content-Type": "application/json",
            "X-WC-Webhook-Topic": "order.created",
            "X-WC-Webhook-Resource": "order",
            "X-WC-Webhook-Event": "created",
            "X-WC-Webhook-Source": SITE,
            "X-WC-Webhook-ID": "7",
            "X-WC-Webhook-Delivery-ID": uuid.uuid4().hex,
            "X-WC-Webhook-Signature": hmac_sha256_base64(SECRET, body),
        }


def setup_db(db: str) -> None:
    import sqlalchemy as sa

    from adapters.db import registry
    from adapters.secretbox import SecretBox

    skus = sorted({line["sku"] for line in json.loads(FIXTURE.read_bytes())["line_items"]})
    engine = sa.create_engine(sa_url(db))
    try:
        with engine.begin() as conn:
            registry.add_channel(
                conn,
                CHANNEL,
                "woocommerce",
                secret_ciphertext=SecretBox(SECRET_KEY).seal(SECRET),
                shop_domain=SITE,
                rate_limit_per_minute=0,
            )
            registry.add_location(conn, "WH-EAST", "warehouse", 10)
    finally:
        engine.dispose()
    with psycopg.connect(raw_dsn(db)) as conn:
        conn.execute("INSERT INTO skus (sku, version) SELECT unnest(%s::text[]), 0", [skus])
        conn.execute(
            "INSERT INTO stock (sku, location, on_hand, reserved)"
            " SELECT s, 'WH-EAST', 50000000, 0 FROM unnest(%s::text[]) s",
            [skus],
        )


def run_door(api: ApiProcess, make: Deliveries, clients: int, args: argparse.Namespace) -> Window:
    window = Window("door", clients, args.seconds)
    url = f"{api.base}/v1/webhooks/woocommerce/{CHANNEL}"

    async def measure() -> None:
        connector = aiohttp.TCPConnector(limit=clients, limit_per_host=clients)
        async with aiohttp.ClientSession(connector=connector) as session:
            await asyncio.gather(*(session.get(f"{api.base}/healthz") for _ in range(clients)))
            loop = asyncio.get_running_loop()
            start = loop.time() + 0.05
            measure_from, end = start + args.warmup, start + args.warmup + args.seconds

            async def client() -> None:
                while (t0 := loop.time()) < end:
                    body, headers = make.make()
                    async with session.post(url, data=body, headers=headers) as resp:
                        await resp.read()
                        status = resp.status
                    window.sent += 1
                    if measure_from <= (t1 := loop.time()) <= end:
                        if status == 202:
                            window.latencies.append(t1 - t0)
                        else:
                            window.errors[str(status)] = window.errors.get(str(status), 0) + 1

            await asyncio.sleep(max(0.0, start - loop.time()))
            await asyncio.gather(*(client() for _ in range(clients)))

    asyncio.run(measure())
    return window


def run_raw(db: str, make: Deliveries, clients: int, args: argparse.Namespace) -> Window:
    window = Window("raw", clients, args.seconds)
    conns = [psycopg.connect(raw_dsn(db), autocommit=True) for _ in range(clients)]
    start = time.perf_counter() + 0.1
    measure_from, end = start + args.warmup, start + args.warmup + args.seconds
    lock = threading.Lock()

    def client(conn: psycopg.Connection[Any]) -> None:
        latencies = []
        while (t0 := time.perf_counter()) < end:
            body, headers = make.make()
            conn.execute(
                "INSERT INTO inbound_raw (channel, delivery_id, headers, body)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING id",
                [CHANNEL, headers["X-WC-Webhook-Delivery-ID"], json.dumps(headers), body],
            ).fetchone()
            if measure_from <= (t1 := time.perf_counter()) <= end:
                latencies.append(t1 - t0)
        with lock:
            window.latencies.extend(latencies)

    threads = [threading.Thread(target=client, args=(c,)) for c in conns]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for c in conns:
        c.close()
    return window


def raw_table(db: str) -> None:
    """The baseline's table: the inbox row's identity, headers and bytes under the same
    unique constraint, in the same database (no foreign key, no state)."""
    with connect(db) as conn:
        conn.execute(
            "CREATE TABLE inbound_raw (id bigserial PRIMARY KEY, channel text NOT NULL,"
            " delivery_id text NOT NULL, received_at timestamptz NOT NULL DEFAULT now(),"
            " headers jsonb NOT NULL, body bytea, UNIQUE (channel, delivery_id))"
        )


def latency(windows: list[Window]) -> str:
    """Median over the runs of p50 and p99, ms."""
    return f"{med([w.ms(50) for w in windows]):.1f} / {med([w.ms(99) for w in windows]):.1f}"


def counts(db: str) -> dict[str, int]:
    with connect(db) as conn:
        states = dict(conn.execute("SELECT state, count(*) FROM inbound_deliveries GROUP BY 1"))
        orders = conn.execute("SELECT count(*) FROM orders").fetchone()[0]
    return {**{f"inbox {k}": v for k, v in states.items()}, "orders": orders}


def drain(db: str, timeout: float) -> float:
    """Seconds until no delivery is left `received` (the door's applies, then the sweep)."""
    started = time.monotonic()

    def done() -> bool:
        with connect(db) as conn:
            left = conn.execute(
                "SELECT count(*) FROM inbound_deliveries WHERE state = 'received'"
            ).fetchone()[0]
        return int(left) == 0

    wait_until(done, timeout, "every delivery applied", 0.2)
    return time.monotonic() - started


def resend_sample(db: str, api: ApiProcess, sample: int) -> dict[str, int]:
    """Resend `sample` stored deliveries byte for byte: every answer must be a duplicate."""
    with connect(db) as conn:
        rows = conn.execute(
            "SELECT headers, body FROM inbound_deliveries ORDER BY random() LIMIT %s", [sample]
        ).fetchall()
    answers: dict[str, int] = {}

    async def send() -> None:
        async with aiohttp.ClientSession() as session:
            for headers, body in rows:
                wanted = {k: v for k, v in headers.items() if k.lower().startswith("x-wc-")}
                wanted["Content-Type"] = "application/json"
                url = f"{api.base}/v1/webhooks/woocommerce/{CHANNEL}"
                async with session.post(url, data=bytes(body), headers=wanted) as resp:
                    answer = await resp.json(content_type=None)
                key = f"{resp.status} {answer.get('status')}"
                answers[key] = answers.get(key, 0) + 1

    asyncio.run(send())
    return answers


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.webhooks", description=(__doc__ or "").split("\n")[0]
    )
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--warmup", type=float, default=1.0)
    p.add_argument("--clients", default="1,8,32")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--resend", type=int, default=200, help="deliveries resent at the end")
    args = p.parse_args(argv)
    clients = [int(c) for c in args.clients.split(",") if c.strip()]
    db = f"bench_webhooks_{uuid.uuid4().hex[:8]}"
    log_dir = Path(tempfile.mkdtemp(prefix="bench-webhooks-"))
    make = Deliveries()
    api: ApiProcess | None = None
    with terminate_on_sigterm():
        try:
            create_database(db)
            setup_db(db)
            raw_table(db)
            api = ApiProcess(db, log_dir, ORDERSYNC_SECRET_KEY=SECRET_KEY)
            api.wait_ready()
            windows: list[Window] = []
            for rep in range(args.repeats):
                for c in clients:
                    for mode in MODES[rep % 2 :] + MODES[: rep % 2]:
                        w = (
                            run_door(api, make, c, args)
                            if mode == "door"
                            else run_raw(db, make, c, args)
                        )
                        windows.append(w)
                        print(
                            f"run {rep + 1} {c:>2} clients {mode:<4} {w.rate:8,.0f}/s"
                            f"  p50 {w.ms(50):6.1f} ms  p99 {w.ms(99):6.1f} ms"
                            + (f"  errors {w.errors}" if w.errors else ""),
                            flush=True,
                        )
            sent = sum(w.sent for w in windows if w.mode == "door")
            drained = drain(db, timeout=600)
            before = counts(db)
            duplicates = resend_sample(db, api, args.resend)
            after = counts(db)
            rows = []
            for c in clients:
                door = [w for w in windows if w.clients == c and w.mode == "door"]
                raw = [w for w in windows if w.clients == c and w.mode == "raw"]
                ratio = med([d.rate / r.rate for d, r in zip(door, raw, strict=False) if r.rate])
                rows.append(
                    [
                        c,
                        runs([w.rate for w in door]),
                        runs([w.rate for w in raw]),
                        f"{ratio:.0%}",
                        latency(door),
                        latency(raw),
                    ]
                )
            headers = ["clients", "door acks/s", "raw inserts/s", "door/raw"]
            print("\n" + table([*headers, "door p50 / p99 ms", "raw p50 / p99 ms"], rows))
            print(f"deliveries sent to the door: {sent:,}; all applied {drained:.1f} s after the")
            print("last window (the door applies after answering, so its backlog drains later)")
            print(f"state after the run: {before}")
            print(f"{args.resend} resent byte for byte: {duplicates}; state after: {after}")
            ok = before == after and before.get("orders") == before.get("inbox applied") == sent
            print(
                "check: "
                + ("one order per delivery, duplicates changed nothing" if ok else "FAILED")
            )
            return 0 if ok else 1
        finally:
            if api is not None:
                api.stop()
            drop_database(db)


if __name__ == "__main__":
    raise SystemExit(main())
