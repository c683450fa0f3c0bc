"""Actors benchmark: commit → ERP handler latency at a steady order rate, and sustained
orders per second through all four destinations, each beside a baseline measured in the
same run.

    .venv/bin/python -m bench.actors [--rate 100] [--seconds 15] [--low-rate 10]
                                     [--low-seconds 10] [--max-backlog 600]
                                     [--orders 300] [--drain-messages 20000] [--repeats 2]
                                     [--baseline-seconds 8] [--skus 50]
                                     [--skip latency,baselines,throughput] [--json FILE]

In a scratch database and vhost (dropped at the end, also on Ctrl-C or SIGTERM), the
stack of tests/e2e/stack.py: ``sim`` (no shipping back), ``api``, ``relay``, 2 ×
``worker --threads 8``; one channel; --skus SKUs stocked at 10^7. Then, --repeats times
each, interleaved (tables: the median, each run in brackets):

* **latency** — 2-line orders POSTed open-loop at --rate/s for --seconds and at
  --low-rate/s for --low-seconds (posting stops past --max-backlog unsettled deliveries;
  "grows by … ms per second" is the slope), in two relay modes, *poll* and *notify*.
  Each ``order.accepted`` → ERP message is timed at every hop by listeners that
  ``child_main`` subscribes in the child processes before running the CLI: in the API,
  SQLAlchemy's public events (**commit**: the pool's reset after COMMIT returned); in the
  relay, its hooks (outbox/hooks.py); in the workers, our Dramatiq middleware
  (actors/middleware.py: actor, guard, **handler** spans); the ERP simulator's
  ``received_at``; the client's HTTP response;
* **baselines** at --rate for --baseline-seconds, messages of the ERP message's size: pika
  publish with confirms → a consumer; Dramatiq ``send()`` → a trivial actor (2 × 8
  threads); the guard's transaction alone;
* **throughput** — API, relay and workers restarted with nobody listening: --orders
  orders on 8 connections, first POST → every delivery applied or superseded; deliveries/s
  from the ledger; CPU per order of every process (/proc); beside it, the Dramatiq no-op
  drain of --drain-messages messages by 2 × 8 threads.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import math
import os
import random
import signal
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.common import (
    CpuMeter,
    LoggedProcess,
    amqp_url,
    backend_pids,
    broker_pid,
    child_env,
    log,
    med,
    pct,
    sa_url,
    scratch,
    stop_all,
    table,
    terminate_on_sigterm,
    wait_until,
)
from ops.wiring import ROUTING

NOOP_QUEUE = "bench_noop"
TRACED = (sys.executable, "-c", "import bench.actors as b; b.child_main()")


# -- child processes: the CLI behind listeners, and the baselines' trivial worker ---------


def child_main() -> None:
    """`python -c 'import bench.actors as b; b.child_main()' ROLE ARGS…`."""
    if sys.argv[1] == "noop-worker":
        _noop_worker(*sys.argv[2:])
        return
    if trace_dir := os.environ.get("BENCH_TRACE_DIR"):
        _listen(sys.argv[1], Path(trace_dir))
    from ops.cli import main

    main(prog_name="ordersync")


def _listen(role: str, trace_dir: Path) -> None:
    """Subscribe to what the process reports; each report is one line of its trace file."""
    path = trace_dir / f"{role}-{os.getpid()}.trace"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def emit(line: str) -> None:
        os.write(fd, line.encode())

    if role == "api":
        import sqlalchemy as sa

        def statement(conn: Any, cursor: Any, text: str, params: Any, *_: Any) -> None:
            if "INSERT INTO outbox_events" in text and params:
                events = json.loads(params[0])
                conn.info["bench_orders"] = [
                    e["aggregate_id"] for e in events if e["aggregate_type"] == "order"
                ]

        def returned(dbapi_connection: Any, record: Any, *_: Any) -> None:
            if orders := record.info.pop("bench_orders", None):
                t = time.time()
                emit("".join(f"C {o} {t:.6f}\n" for o in orders))

        sa.event.listen(sa.Engine, "after_cursor_execute", statement)
        sa.event.listen(sa.pool.Pool, "reset", returned)
    elif role == "relay":
        from outbox.hooks import relay_hooks

        def batch(r: Any) -> None:
            times = [r.span("claim").started_at, r.span("publish").started_at]
            times += [r.span("confirm").ended_at, r.ended_at]
            ids = ",".join(map(str, [*r.confirmed, *r.failed]))
            emit("P " + " ".join(f"{t:.6f}" for t in times) + f" {ids}\n")

        relay_hooks.subscribe(batch)
    elif role == "worker":
        from actors.middleware import delivery_hooks

        def delivery(r: Any) -> None:
            guard, handler = r.span("guard"), r.span("handler")
            times = [r.started_at, r.ended_at]
            times += [guard.started_at, guard.ended_at] if guard else [math.nan] * 2
            times += [handler.started_at, handler.ended_at] if handler else [math.nan] * 2
            emit(f"D {r.event_id} {r.destination} " + " ".join(f"{t:.6f}" for t in times) + "\n")

        delivery_hooks.subscribe(delivery)


def _noop_worker(url: str, out: str, threads: str, go: str) -> None:
    """A trivial Dramatiq actor (default middleware, like ours). Records (sent, started)
    per message; writes its count to OUT.count every 20 ms and every stamp to OUT on
    SIGTERM. With GO != "-", waits for that file to exist."""
    import dramatiq
    from dramatiq.brokers.rabbitmq import RabbitmqBroker

    broker = RabbitmqBroker(url=url)
    stamps: list[tuple[float, float]] = []

    def bench_noop(sent: float = 0.0, pad: str = "") -> None:
        stamps.append((sent, time.time()))

    dramatiq.actor(actor_name=NOOP_QUEUE, queue_name=NOOP_QUEUE, broker=broker)(bench_noop)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    Path(out + ".ready").touch()
    while go != "-" and not os.path.exists(go) and not done.is_set():
        time.sleep(0.001)
    worker = dramatiq.Worker(broker, worker_threads=int(threads))
    worker.start()
    while not done.wait(0.02):
        Path(out + ".count.tmp").write_text(str(len(stamps)))
        os.replace(out + ".count.tmp", out + ".count")
    worker.stop()
    broker.close()
    Path(out).write_text(json.dumps(stamps))


# -- the stack -----------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace, name: str) -> None:
        from adapters.db.engine import make_engine
        from tests.e2e.stack import Stack

        self.args, self.name = args, name
        self.work = Path(tempfile.mkdtemp(prefix="bench-actors-"))
        self.traces = self.work / "traces"
        self.traces.mkdir()
        self.engine = make_engine(sa_url(name), pool_size=4)
        self.stack = Stack(self.engine, sa_url(name), amqp_url(name), command=TRACED)
        # The product's own probe interval and client timeout, not the tests' quick ones: a
        # probe round every 0.5 s per worker is work the product would not do.
        self.stack.extra_env.update(
            BENCH_TRACE_DIR=str(self.traces),
            ORDERSYNC_PROBE_INTERVAL_S="5",
            ORDERSYNC_CLIENT_TIMEOUT_S="5",
        )
        self.extra: list[LoggedProcess] = []
        self.skus = [f"BENCH-{i:03d}" for i in range(args.skus)]
        self.rng = random.Random(7)
        self.msg_size = 2000
        self.tag = 0

    def up(self) -> None:
        import httpx

        self.stack.up(ship_after=None, workers=2, threads=8)
        adjustments = [{"sku": s, "location": "WH-EAST", "set_on_hand": 10**7} for s in self.skus]
        self.stack.admin("POST", "/v1/inventory/adjustments", json={"adjustments": adjustments})
        httpx.get(f"{self.stack.sim}/_sim/health", timeout=5).raise_for_status()
        self.warm_up()

    def down(self) -> None:
        self.stack.down()
        stop_all(self.extra)
        self.engine.dispose()

    def check(self) -> None:
        for name, process in self.stack.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited ({process.returncode})")

    def restart(self, names: tuple[str, ...], *, notify: bool, traced: bool) -> None:
        """Stop these processes and start them again in the mode asked for."""
        from tests.e2e.processes import CLI, listening_url

        for name in names:
            self.stack.stop(name)
        self.stack.command = TRACED if traced else (CLI,)
        self.stack.extra_env["ORDERSYNC_OUTBOX_NOTIFY"] = "true" if notify else "false"
        for name in names:
            if name == "api":
                self.stack.start("api", "api", "--port", "0")
                url = listening_url(self.stack.processes["api"])
                self.stack.api_port = int(urllib.parse.urlsplit(url).port or 0)
            else:
                worker = ("worker", "--threads", "8")
                self.stack.start(name, *(worker if name.startswith("worker") else (name,)))
        self.warm_up(10)

    def warm_up(self, n: int = 20) -> None:
        """A few orders through everything: leases taken, queues declared, consumers up."""
        mark = self.watermark()
        asyncio.run(self.post_fast([self.doc(f"WARM-{self.next_tag()}-{i}") for i in range(n)], 4))
        wait_until(lambda: self.unsettled(mark) == 0, 90, "the warm-up orders", check=self.check)

    def next_tag(self) -> int:
        self.tag += 1
        return self.tag

    def doc(self, external_id: str) -> dict[str, Any]:
        from tests.factories import order_doc

        a, b = self.rng.sample(self.skus, 2)
        return order_doc(external_id, [(a, 1), (b, 1)])

    async def _post(self, session: Any, body: bytes) -> tuple[str, float, float]:
        t0 = time.time()
        headers = {"Authorization": f"Bearer {self.stack.channel_key}"}
        headers["Content-Type"] = "application/json"
        async with session.post(f"{self.stack.api}/v1/orders", data=body, headers=headers) as r:
            payload = await r.read()
            if r.status != 201:
                raise RuntimeError(f"POST /v1/orders: {r.status} {payload[:300]!r}")
        return str(json.loads(payload)["id"]), t0, time.time()

    async def post_paced(
        self, docs: list[dict[str, Any]], rate: float, mark: int
    ) -> tuple[list[tuple[str, float, float]], float | None]:
        """Open loop at `rate`; stops early (returns when) once more than --max-backlog
        deliveries of this run are unsettled: the stack is not keeping up."""
        import aiohttp

        loop = asyncio.get_running_loop()
        stopped: list[float] = []

        async def watch() -> None:
            while True:
                await asyncio.sleep(0.25)
                if await loop.run_in_executor(None, self.unsettled, mark) > self.args.max_backlog:
                    stopped.append(loop.time())
                    return

        watcher = asyncio.create_task(watch())
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256)) as session:
            start = loop.time() + 0.05
            tasks = []
            for i, doc in enumerate(docs):
                if (delay := start + i / rate - loop.time()) > 0:
                    await asyncio.sleep(delay)
                if stopped:
                    break
                body = json.dumps(doc).encode()
                tasks.append(asyncio.create_task(self._post(session, body)))
            watcher.cancel()
            results = list(await asyncio.gather(*tasks))
        return results, (stopped[0] - start if stopped else None)

    async def post_fast(self, docs: list[dict[str, Any]], concurrency: int) -> list[Any]:
        import aiohttp

        bodies = collections.deque(enumerate(json.dumps(d).encode() for d in docs))
        results: list[Any] = [None] * len(bodies)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as s:

            async def client() -> None:
                while bodies:
                    i, body = bodies.popleft()
                    results[i] = await self._post(s, body)

            await asyncio.gather(*(client() for _ in range(concurrency)))
        return results

    def rows(self, query: str, **params: Any) -> list[Any]:
        import sqlalchemy as sa

        with self.engine.connect() as conn:
            return list(conn.execute(sa.text(query), params).all())

    def watermark(self) -> int:
        return int(self.rows("SELECT coalesce(max(id), 0) FROM outbox_deliveries")[0][0])

    def unsettled(self, mark: int) -> int:
        query = "SELECT count(*) FROM outbox_deliveries WHERE id > :m"
        query += " AND status NOT IN ('applied', 'superseded')"
        return int(self.rows(query, m=mark)[0][0])

    def statuses(self, mark: int) -> dict[str, int]:
        query = "SELECT status, count(*) FROM outbox_deliveries WHERE id > :m GROUP BY status"
        return dict(self.rows(query, m=mark))  # type: ignore[arg-type]

    def sim_reset(self) -> None:
        import httpx

        for system in ("erp", "wms", "crm", "channels"):
            httpx.post(f"{self.stack.sim}/_sim/{system}/reset", timeout=10)

    def cpu(self) -> CpuMeter:
        groups = {n: (lambda p=p: [p.pid]) for n, p in self.stack.processes.items()}
        groups["postgres"] = lambda: backend_pids(self.name)
        groups["rabbitmq"] = lambda: [pid] if (pid := broker_pid()) else []
        groups["bench client"] = lambda: [os.getpid()]
        return CpuMeter(groups, machine=True)  # type: ignore[arg-type]


# -- latency through the stack ---------------------------------------------------------------


STAGES = [  # (label, from, to) over the per-order timestamps
    ("commit → relay claim starts (wake-up)", "commit", "cycle"),
    ("claim starts → publish starts (claim, build)", "cycle", "pub0"),
    ("publish → confirmed", "pub0", "pub1"),
    ("publish → actor starts (broker, consumer, work queue)", "pub0", "actor"),
    ("actor → handler starts (envelope, guard's locking read)", "actor", "handler"),
    ("handler → ERP sim has the document (HTTP)", "handler", "erp"),
    ("ERP sim → handler returns (HTTP answer)", "erp", "handler_end"),
    ("handler returns → guard committed (its write, COMMIT)", "handler_end", "done"),
    ("relay confirm → relay batch committed", "pub1", "cycle_end"),
]
END_TO_END = [
    ("commit → ERP handler starts  [target p50 < 5, p99 < 15]", "commit", "handler"),
    ("commit → ERP simulator received", "commit", "erp"),
    ("commit → published (confirmed)", "commit", "pub1"),
    ("commit → applied (guard committed)", "commit", "done"),
    ("commit → HTTP response at the client", "commit", "response"),
    ("HTTP response → ERP received (uninstrumented view)", "response", "erp"),
    ("tx start (outbox created_at) → ERP received", "created", "erp"),
]


def read_traces(trace_dir: Path) -> dict[str, Any]:
    commits: dict[str, float] = {}
    batches: dict[int, list[float]] = {}
    deliveries: dict[tuple[str, str], list[float]] = {}
    for path in trace_dir.glob("*.trace"):
        for line in path.read_text().splitlines():
            kind, *parts = line.split(" ")
            if kind == "C" and len(parts) == 2:
                commits.setdefault(parts[0], float(parts[1]))
            elif kind == "P" and len(parts) == 5:
                for i in filter(None, parts[4].split(",")):
                    batches.setdefault(int(i), [float(x) for x in parts[:4]])
            elif kind == "D" and len(parts) == 8:
                # a parked message runs again when released: its last run applied it
                deliveries[(parts[0], parts[1])] = [float(x) for x in parts[2:]]
    return {"C": commits, "P": batches, "D": deliveries}


def latency_run(bench: Bench, mode: str, seconds: float, rate: float) -> dict[str, Any]:
    import httpx

    tag = bench.next_tag()
    docs = [bench.doc(f"LAT-{tag}-{i}") for i in range(int(seconds * rate))]
    mark = bench.watermark()
    results, stopped = asyncio.run(bench.post_paced(docs, rate, mark))
    wait_until(lambda: bench.unsettled(mark) == 0, 120, f"{mode}: settled", 0.1, bench.check)
    time.sleep(0.2)  # the last trace lines
    rows = bench.rows(
        "SELECT e.aggregate_id, e.event_id, extract(epoch FROM e.created_at), d.id"
        " FROM outbox_events e JOIN outbox_deliveries d USING (event_id)"
        " WHERE e.event_type = 'order.accepted' AND d.destination = 'erp' AND d.id > :m",
        m=mark,
    )
    sim = f"{bench.stack.sim}/_sim/erp/documents"
    erp = httpx.get(sim, params={"type": "sales_order"}, timeout=60).json()["documents"]
    erp_at = {
        d["body"]["order_ref"]: datetime.fromisoformat(d["received_at"]).timestamp() for d in erp
    }
    traces = read_traces(bench.traces)
    by_order = {r[0]: r for r in rows}
    samples: list[dict[str, float]] = []
    for order_id, _, responded in results:
        if (row := by_order.get(order_id)) is None or order_id not in traces["C"]:
            continue
        _, event_id, created, delivery_id = row
        s = {"commit": traces["C"][order_id], "response": responded, "created": float(created)}
        if delivery_id in traces["P"]:
            s["cycle"], s["pub0"], s["pub1"], s["cycle_end"] = traces["P"][delivery_id]
        if (key := (str(event_id), "erp")) in traces["D"]:
            actor, _, _, s["done"], s["handler"], s["handler_end"] = traces["D"][key]
            s["actor"] = actor
        if order_id in erp_at:
            s["erp"] = erp_at[order_id]
        samples.append({k: v for k, v in s.items() if not math.isnan(v)})
    bench.sim_reset()
    sent = [r[1] for r in results]
    return {
        "mode": mode,
        "stopped_after": stopped,
        "orders": len(results),
        "offered_rate": (len(sent) - 1) / (max(sent) - min(sent)) if len(sent) > 1 else 0,
        "missing": len(results) - len(samples),
        "statuses": bench.statuses(mark),
        "samples": samples,
    }


def spans(samples: list[dict[str, float]], a: str, b: str) -> list[float]:
    return [1000 * (s[b] - s[a]) for s in samples if a in s and b in s]


def growth_rate(samples: list[dict[str, float]]) -> float:
    """Least-squares slope of commit → handler (ms) over the commit time (s): ~0 when the
    stack keeps up, ~1000 × (1 − capacity / rate) when it does not."""
    points = [(s["commit"], 1000 * (s["handler"] - s["commit"])) for s in samples if "handler" in s]
    if len(points) < 3:
        return float("nan")
    mx, my = statistics.fmean(x for x, _ in points), statistics.fmean(y for _, y in points)
    sxx = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else float("nan")


# -- baselines --------------------------------------------------------------------------------


def pika_round_trip(vhost: str, seconds: float, rate: float, size: int) -> dict[str, Any]:
    import pika

    queue, params = "bench_rtt", pika.URLParameters(amqp_url(vhost))
    setup = pika.BlockingConnection(params)
    setup.channel().queue_declare(queue, durable=True)
    setup.channel().queue_purge(queue)
    setup.close()
    arrivals: list[tuple[float, float]] = []
    ready, stop = threading.Event(), threading.Event()

    def consume() -> None:
        conn = pika.BlockingConnection(params)
        ch = conn.channel()
        ch.basic_qos(prefetch_count=16)

        def on_message(channel: Any, method: Any, _props: Any, body: bytes) -> None:
            arrivals.append((float(body[:17]), time.time()))
            channel.basic_ack(method.delivery_tag)

        ch.basic_consume(queue, on_message)
        ready.set()
        while not stop.is_set():
            conn.process_data_events(time_limit=0.05)
        conn.close()

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    ready.wait(10)
    conn = pika.BlockingConnection(params)
    ch = conn.channel()
    ch.confirm_delivery()
    props = pika.BasicProperties(delivery_mode=2, content_type="application/json")
    n, pad = int(seconds * rate), b"x" * max(0, size - 17)
    start = time.perf_counter() + 0.05
    for i in range(n):
        if (delay := start + i / rate - time.perf_counter()) > 0:
            time.sleep(delay)
        t = time.time()
        ch.basic_publish("", queue, f"{t:17.6f}".encode() + pad, props, mandatory=True)
    conn.close()
    deadline = time.monotonic() + 10
    while len(arrivals) < n and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    consumer.join(5)
    return {"latency": [1000 * (b - a) for a, b in arrivals]}


class NoopWorkers:
    """2 processes × 8 threads of the trivial actor; `go`: a file they wait for."""

    def __init__(self, bench: Bench, go: str = "-") -> None:
        self.bench, self.out = bench, []
        env = child_env()
        for i in (1, 2):
            path = str(bench.work / f"noop-{time.monotonic_ns()}-{i}.json")
            args = ["noop-worker", amqp_url(bench.name), path, "8", go]
            log_path = bench.work / f"noop{i}-{time.monotonic_ns()}.log"
            process = LoggedProcess(f"noop{i}", [*TRACED, *args], env, log_path)
            bench.extra.append(process)
            self.out.append((process, path))
        for process, path in self.out:
            ready = Path(path + ".ready").exists
            wait_until(ready, 60, "a no-op worker", check=process.check)

    def count(self) -> int:
        total = 0
        for _, path in self.out:
            if (counted := Path(path + ".count")).exists():
                total += int(counted.read_text() or 0)
        return total

    def stop(self) -> list[tuple[float, float]]:
        stop_all(p for p, _ in self.out)
        stamps: list[tuple[float, float]] = []
        for process, path in self.out:
            self.bench.extra.remove(process)
            if Path(path).exists():
                stamps += [(float(a), float(b)) for a, b in json.loads(Path(path).read_text())]
        return stamps


def noop_actor(bench: Bench, *, confirm: bool) -> Any:
    import dramatiq
    from dramatiq.brokers.rabbitmq import RabbitmqBroker

    broker = RabbitmqBroker(url=amqp_url(bench.name), confirm_delivery=confirm)

    def bench_noop(sent: float = 0.0, pad: str = "") -> None:
        pass

    return dramatiq.actor(actor_name=NOOP_QUEUE, queue_name=NOOP_QUEUE, broker=broker)(bench_noop)


def dramatiq_round_trip(bench: Bench, seconds: float, rate: float, size: int) -> dict[str, Any]:
    actor = noop_actor(bench, confirm=True)
    workers = NoopWorkers(bench)
    n = int(seconds * rate)
    try:
        actor.send(0.0, "")  # declares the queues; waits for the consumers
        wait_until(lambda: workers.count() >= 1, 30, "the no-op workers to consume")
        pad = "x" * max(0, size - 200)  # the rest of a Dramatiq message is ~200 bytes
        start = time.perf_counter() + 0.05
        for i in range(n):
            if (delay := start + i / rate - time.perf_counter()) > 0:
                time.sleep(delay)
            actor.send(time.time(), pad)
        wait_until(lambda: workers.count() >= n + 1, 30, "the no-op actor's messages")
    finally:
        stamps = workers.stop()
        actor.broker.close()
    return {"latency": [1000 * (b - a) for a, b in stamps if a > 0]}


def guard_alone(bench: Bench, n: int = 200) -> dict[str, float]:
    """deliver()'s transaction (cursor lock, inbox, ledger, COMMIT) for one delivery of a
    new aggregate with a handler that does nothing, in one thread: median ms. The rows are
    written already published, so the running relay leaves them alone."""
    import sqlalchemy as sa

    from actors.guard import deliver
    from outbox.writer import write_events
    from tests.outbox_rows import TRACE, envelopes, order_events

    prefix = f"guard-{bench.next_tag()}-"
    with bench.engine.begin() as conn:
        events = [order_events(f"{prefix}{i}", 1)[0] for i in range(n)]  # one WMS delivery each
        write_events(conn, events, TRACE, lambda: ["web"], routing=ROUTING)
        conn.execute(
            sa.text(
                "UPDATE outbox_deliveries SET published_at = now(), status = 'published'"
                " WHERE aggregate_id LIKE :p"
            ),
            {"p": prefix + "%"},
        )
    mine = [e for e in envelopes(bench.engine, "wms") if e.aggregate_id.startswith(prefix)]
    times: dict[str, list[float]] = collections.defaultdict(list)
    for envelope in mine:
        t = time.perf_counter()
        deliver(bench.engine, envelope, lambda _e: None)
        times["guard transaction, no handler call"].append(1000 * (time.perf_counter() - t))
        with bench.engine.connect() as conn:
            t = time.perf_counter()
            conn.exec_driver_sql("SELECT 1").all()
            times["a bare SELECT 1 round trip"].append(1000 * (time.perf_counter() - t))
    return {k: med(v) for k, v in times.items()}


# -- throughput -------------------------------------------------------------------------------


def throughput_run(bench: Bench, n: int) -> dict[str, Any]:
    docs = [bench.doc(f"TP-{bench.next_tag()}-{i}") for i in range(n)]
    mark = bench.watermark()
    cpu = bench.cpu().start()
    results = asyncio.run(bench.post_fast(docs, 8))
    posted = max(r[2] for r in results)
    wait_until(lambda: bench.unsettled(mark) == 0, 300, "every delivery", 0.02, bench.check)
    end = time.time()
    cpu.stop()
    first = min(r[1] for r in results)
    count, d0, d1 = bench.rows(
        "SELECT count(*), extract(epoch FROM min(updated_at)), extract(epoch FROM max(updated_at))"
        " FROM outbox_deliveries WHERE id > :m",
        m=mark,
    )[0]
    bench.sim_reset()
    return {
        "orders": n,
        "orders_per_s": n / (end - first),
        "ingest_per_s": n / (posted - first),
        "seconds": end - first,
        "deliveries": int(count),
        "deliveries_per_s": int(count) / max(float(d1) - float(d0), 1e-9),
        "statuses": bench.statuses(mark),
        "cpu_ms_per_order": {k: v * 1000 / n for k, v in cpu.seconds.items()},
    }


def noop_drain(bench: Bench, m: int) -> dict[str, Any]:
    import pika

    go = str(bench.work / f"go-{time.monotonic_ns()}")
    actor = noop_actor(bench, confirm=False)
    workers = NoopWorkers(bench, go)
    try:
        for _ in range(m):
            actor.send(0.0, "")
        conn = pika.BlockingConnection(pika.URLParameters(amqp_url(bench.name)))
        ch = conn.channel()
        queued = lambda: ch.queue_declare(NOOP_QUEUE, passive=True).method.message_count  # noqa: E731
        wait_until(lambda: queued() >= m, 60, "the enqueued no-op messages")
        conn.close()
        Path(go).touch()
        wait_until(lambda: workers.count() >= m, 120, "the no-op drain", step=0.02)
    finally:
        stamps = workers.stop()
        actor.broker.close()
    times = sorted(t for _, t in stamps)
    return {"messages": len(times), "rate": (len(times) - 1) / (times[-1] - times[0])}


# -- report -------------------------------------------------------------------------------------


def fmt(values: list[float], digits: int = 1) -> str:
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return "—"
    each = ", ".join(f"{v:.{digits}f}" for v in values)
    return f"{med(values):.{digits}f}" + (f" [{each}]" if len(values) > 1 else "")


def latency_tables(runs: dict[str, list[dict[str, Any]]]) -> str:
    out = []
    for key, key_runs in runs.items():
        notes = "; ".join(
            f"run {i}: {r['orders']} orders at {r['offered_rate']:.0f}/s, "
            + (
                f"stopped after {r['stopped_after']:.1f}s: backlog over the limit"
                if r["stopped_after"] is not None
                else "ran its course"
            )
            for i, r in enumerate(key_runs, 1)
        )
        rows = [
            [label, *(fmt([pct(spans(r["samples"], a, b), p) for r in key_runs]) for p in PCTS)]
            for label, a, b in END_TO_END
        ]
        growth = fmt([growth_rate(r["samples"]) for r in key_runs], 0)
        out.append(table(["span", "p50", "p95", "p99"], rows, f"{key} ({notes}), ms"))
        out.append(f"commit → handler grows by {growth} ms per second of posting.\n")
    keys = list(runs)

    def hop(k: str, a: str, b: str) -> str:
        p50, p99 = (med([pct(spans(r["samples"], a, b), q) for r in runs[k]]) for q in (50, 99))
        return f"{p50:.1f} / {p99:.1f}"

    hops = [[label, *(hop(k, a, b) for k in keys)] for label, a, b in STAGES]
    out.append(table(["hop", *keys], hops, "Commit → ERP handler, hop by hop (ms, p50 / p99)"))
    return "\n".join(out)


PCTS = (50, 95, 99)


def baseline_table(base: dict[str, list[dict[str, Any]]], rate: float, size: int) -> str:
    labels = [
        ("pika", "latency", "pika: just before publish (confirms on) → consumer has it"),
        ("dramatiq", "latency", "Dramatiq: before send() (confirms) → trivial actor starts"),
    ]
    rows = [
        [label, *(fmt([pct(r[field], p) for r in base[source]]) for p in PCTS)]
        for source, field, label in labels
        if base.get(source)
    ]
    return table(["baseline", "p50", "p95", "p99"], rows, f"Baselines at {rate:g} msg/s, {size} B")


def throughput_table(tp: list[dict[str, Any]], drains: list[dict[str, Any]]) -> str:
    def each(key: str, of: list[dict[str, Any]] = tp) -> str:
        return fmt([r[key] for r in of], 0)

    rows: list[list[object]] = []
    if tp:
        rows.append(["orders POSTed per run (8 connections)", tp[0]["orders"]])
        rows.append(["API intake while the stack drains, orders/s", each("ingest_per_s")])
        rows.append(["**end-to-end orders/s** (first POST → all applied)", each("orders_per_s")])
        rows.append(["deliveries per order", f"{tp[0]['deliveries'] / tp[0]['orders']:.2f}"])
        rows.append(["deliveries/s at the workers (ledger)", each("deliveries_per_s")])
    if drains:
        rows.append(["**Dramatiq no-op drain**, 2 × 8 threads, msg/s", each("rate", drains)])
    if tp and drains:
        ratio = med([r["deliveries_per_s"] for r in tp]) / med([d["rate"] for d in drains])
        rows.append(["our deliveries/s ÷ no-op msg/s", f"{ratio:.1%}"])
    out = table(["measure", "value"], rows, "Sustained throughput, 2 workers × 8 threads")
    if tp:
        names = tp[0]["cpu_ms_per_order"]
        cpu = [[n, f"{med([r['cpu_ms_per_order'][n] for r in tp]):.1f}"] for n in names]
        out += "\n" + table(["process", "ms/order"], cpu, "CPU per order (ms of one core)")
    return out


# -- main ---------------------------------------------------------------------------------------


def message_size(bench: Bench) -> int:
    """The size of an ERP order.accepted message as the relay builds it."""
    from outbox.messages import build
    from outbox.relay_queries import deliveries_with_events
    from outbox.tables import deliveries_table as d

    query = deliveries_with_events().where(d.c.destination == "erp").order_by(d.c.id.desc())
    with bench.engine.connect() as conn:
        row = conn.execute(query.limit(1)).first()
    return len(build(row).body) if row else 2000


def measure(bench: Bench, args: argparse.Namespace, out: dict[str, Any]) -> None:
    skip = set(filter(None, args.skip.split(",")))
    latency, base = out["latency"], out["baselines"]
    notify = False
    for r in range(args.repeats):
        for mode in ("poll", "notify") if r % 2 == 0 else ("notify", "poll"):
            if "latency" not in skip:
                if (mode == "notify") != notify:
                    notify = mode == "notify"
                    bench.restart(("api", "relay"), notify=notify, traced=True)
                for rate in [args.rate] + ([args.low_rate] if args.low_rate else []):
                    key = f"{mode} @ {rate:g}/s"
                    log(f"latency run {r + 1}, {key}")
                    seconds = args.seconds if rate == args.rate else args.low_seconds
                    res = latency_run(bench, mode, seconds, rate)
                    latency.setdefault(key, []).append(res)
                    handler = spans(res["samples"], "commit", "handler")
                    log(
                        f"  {res['orders']} orders; commit → handler p50/p99 "
                        f"{pct(handler, 50):.1f}/{pct(handler, 99):.1f} ms"
                    )
            if mode == "poll" and "baselines" not in skip:
                if latency:
                    bench.msg_size = message_size(bench)
                    out["guard_alone"].append(guard_alone(bench))
                secs = min(args.seconds, args.baseline_seconds)
                log(f"baselines run {r + 1}: pika, Dramatiq, {bench.msg_size} B, {secs:g}s")
                base["pika"].append(pika_round_trip(bench.name, secs, args.rate, bench.msg_size))
                base["dramatiq"].append(dramatiq_round_trip(bench, secs, args.rate, bench.msg_size))
    if "throughput" not in skip:
        log("api, relay and workers restarted with nobody listening (poll mode)")
        bench.restart(("api", "relay", "worker", "worker2"), notify=False, traced=False)
        for r in range(args.repeats):
            log(f"throughput run {r + 1}: {args.orders} orders")
            out["throughput"].append(throughput_run(bench, args.orders))
            log(f"  {out['throughput'][-1]['orders_per_s']:.0f} orders/s")
            out["drains"].append(noop_drain(bench, args.drain_messages))
            log(f"  no-op drain {out['drains'][-1]['rate']:.0f} msg/s")


def run(args: argparse.Namespace) -> dict[str, Any]:
    os.environ["PYTHONPATH"] = child_env()["PYTHONPATH"]  # the stack runs this tree's code
    out: dict[str, Any] = {"args": vars(args), "loadavg_at_start": os.getloadavg()}
    out.update(latency={}, baselines={"pika": [], "dramatiq": []}, throughput=[], drains=[])
    out.update(guard_alone=[], failure=None)
    started = time.monotonic()
    bench = None
    try:
        with terminate_on_sigterm(), scratch("ordersync_bench_actors", vhost=True) as name:
            bench = Bench(args, name)
            try:
                log("starting sim, api, relay, 2 workers")
                bench.up()
                measure(bench, args, out)
            finally:
                bench.down()
    except Exception as error:  # report what was measured before the failure
        out["failure"] = f"{type(error).__name__}: {error}"
        log(f"FAILED: {out['failure']}")
    print(
        f"\n# bench.actors — {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores "
        f"(load average at start {out['loadavg_at_start'][0]:.1f}), {args.repeats} runs "
        f"of each, interleaved; {time.monotonic() - started:.0f}s\n"
    )
    if out["latency"]:
        print(latency_tables(out["latency"]))
    if out["guard_alone"]:
        print(
            "Alone: "
            + ", ".join(
                f"{k} {med([a[k] for a in out['guard_alone']]):.2f}" for k in out["guard_alone"][0]
            )
            + "\n"
        )
    if out["baselines"]["pika"]:
        size = bench.msg_size if bench else 0
        print(baseline_table(out["baselines"], args.rate, size))
    if out["throughput"] or out["drains"]:
        print(throughput_table(out["throughput"], out["drains"]))
        for i, t in enumerate(out["throughput"], 1):
            print(
                f"- throughput run {i}: {t['deliveries']} deliveries in {t['seconds']:.1f}s,"
                f" ledger {t['statuses']}"
            )
    for rs in out["latency"].values():
        for r in rs:
            r.pop("samples")
    if out["failure"]:
        print(f"\n**The run failed before it finished:** {out['failure']}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.actors", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--rate", type=float, default=100, help="orders/s of the latency runs")
    parser.add_argument("--low-rate", type=float, default=10, help="a second rate (0: none)")
    parser.add_argument("--seconds", type=float, default=15, help="length of each latency run")
    parser.add_argument("--low-seconds", type=float, default=10)
    parser.add_argument("--max-backlog", type=int, default=600, help="unsettled: stop posting")
    parser.add_argument("--baseline-seconds", type=float, default=8)
    parser.add_argument("--orders", type=int, default=300, help="orders per throughput run")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--drain-messages", type=int, default=20_000)
    parser.add_argument("--skus", type=int, default=50, help="SKUs the orders draw 2 lines from")
    parser.add_argument("--skip", default="", help="comma-separated: latency,baselines,throughput")
    parser.add_argument("--json", help="also write the results (no samples) to this file")
    args = parser.parse_args()
    out = run(args)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2, default=str))
    if out["failure"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
