"""Actors benchmark: commit → ERP handler latency at a steady order rate, and sustained
orders per second through all four destinations, each beside a baseline measured in the
same run.

    .venv/bin/python -m bench.actors [--rate 100] [--seconds 15] [--low-rate 10]
                                     [--low-seconds 10] [--max-backlog 600]
                                     [--orders 300] [--drain-messages 20000] [--repeats 2]
                                     [--baseline-seconds 8] [--skus 50]
                                     [--skip latency,baselines,throughput]
                                     [--profile DIR] [--json FILE] [--keep-logs]

What one run does:

* creates a scratch database ``ordersync_bench_actors_<random>`` (migrated with
  adapters.db.migrate.upgrade) and a RabbitMQ vhost of the same name; drops both at
  the end, also on failure, Ctrl-C or SIGTERM, after stopping every process it started;
* starts the stack as processes, as tests/e2e/stack.py does: ``ordersync sim`` (no
  shipping back), ``api``, ``relay`` and 2 × ``worker --threads 8``, on that database
  and vhost; one channel ("web"); --skus SKUs stocked at 10^7;
* **latency** — orders (tests.factories.order_doc, 2 lines drawn from the SKUs) are
  POSTed open-loop (aiohttp; a slow answer does not hold the next request back) at
  --rate per second for --seconds, and at --low-rate for --low-seconds, a rate the
  stack sustains. If more than --max-backlog deliveries are unsettled (checked every
  0.25 s) the stack is not keeping up: posting stops there, the table says so, and
  "grows by … ms per second" gives the latency's slope. Each order is timed at every
  hop of its ``order.accepted`` → ERP message. The processes of these runs start through
  ``child_main`` below, a shim that only timestamps (time.time(), one O_APPEND write
  per event, a few µs) and changes no behaviour:
    - api: right after SqlUnitOfWork.commit() returns → **commit** (the server has
      answered COMMIT: an upper bound of the commit, ~0.1 ms late);
    - relay: cycle start, publish start, all confirms in, cycle committed;
    - worker: Dramatiq's consumer thread receives the message; the actor (``_apply``)
      starts; each adapters.db query of the guard (GUARD_STEPS); the ERP **handler starts**
      and returns; the guard's transaction is done;
    - ERP simulator: ``received_at`` of the sales order (GET /_sim/erp/documents);
    - the client's HTTP response time: what an uninstrumented run can see.
  Two relay modes, interleaved (poll, notify, notify, poll…): *poll* (the defaults:
  adaptive polling, ORDERSYNC_RELAY_IDLE_POLL_MAX_S=0.05) and *notify*
  (ORDERSYNC_OUTBOX_NOTIFY=true on the API and the relay, restarted for each switch);
* **baselines of the latency**, at --rate for --baseline-seconds, messages of the ERP
  message's size: *pika* — a publisher with confirms (BlockingConnection, one at a
  time) and a consumer on its own connection and thread, manual acks, prefetch 16:
  just-before-publish → received; *Dramatiq* — RabbitmqBroker ``send()`` with
  confirm_delivery=True, 2 worker processes × 8 threads of a trivial actor:
  just-before-send → the actor starts;
* **throughput** — the API, relay and workers restarted without the shim (plain
  ``ordersync``), poll mode; --orders orders POSTed as fast as the API takes them
  (8 connections); the clock runs from the first POST until every delivery of the
  run is applied or superseded (the ledger, polled every 20 ms) → end-to-end orders/s
  through ERP, WMS, CRM and the channel; deliveries/s at the workers (the ledger's first
  and last updated_at); CPU per order of every process (/proc). Baseline in the same
  run: the Dramatiq no-op drain — --drain-messages messages enqueued first, then
  2 processes × 8 threads of a no-op actor (started together) drain them; msg/s from
  the first to the last message handled;
* every measurement runs --repeats times (default 2), interleaved; tables show the
  median, with each run in brackets. The 2 cores are shared by everything (and by
  whatever else runs on the machine: the load average is printed): only ratios
  within one run mean much;
* --profile DIR: one more throughput run with py-spy --gil on a worker, its samples
  classified by phase of a delivery and by library.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import collections
import contextlib
import functools
import json
import math
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from bench.common import SERVER, LoggedProcess, amqp_url, med, pct, sa_url

ROOT = Path(__file__).resolve().parent.parent
ADMIN = "bench-admin-token-0123456789"
CLK_TCK = os.sysconf("SC_CLK_TCK")
BENCH_APP = "ordersync-bench-actors"
NOOP_QUEUE = "bench_noop"
FINAL = ("applied", "superseded")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------
# Child processes: the product's CLI, optionally behind a timestamping shim, and the
# trivial Dramatiq worker of the baselines.
# ----------------------------------------------------------------------------------------


def child_main() -> None:
    """`python -c 'import bench.actors as b; b.child_main()' ROLE ARGS…`."""
    role = sys.argv[1]
    if role == "noop-worker":
        _noop_worker(*sys.argv[2:])
        return
    if os.environ.get("BENCH_SWITCH_INTERVAL"):  # an experiment, off by default
        sys.setswitchinterval(float(os.environ["BENCH_SWITCH_INTERVAL"]))
    trace_dir = os.environ.get("BENCH_TRACE_DIR")
    if trace_dir:
        _instrument(role, Path(trace_dir))
    from ops.cli import main

    main(prog_name="ordersync")


def _instrument(role: str, trace_dir: Path) -> None:
    """Timestamps only: each wrapper calls the original and writes one line."""
    fd = os.open(
        trace_dir / f"{role}-{os.getpid()}.trace", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644
    )
    now = time.time

    def emit(line: str) -> None:
        os.write(fd, line.encode())

    if role == "api":
        from adapters.db.uow import SqlUnitOfWork

        commit = SqlUnitOfWork.commit

        def timed_commit(self: Any) -> None:
            ids = {e.aggregate_id for e in self.pending_events if e.aggregate_type == "order"}
            commit(self)
            t = now()
            if ids:
                emit("".join(f"C {i} {t:.6f}\n" for i in ids))

        SqlUnitOfWork.commit = timed_commit  # type: ignore[method-assign]
    elif role == "relay":
        from outbox.rabbitmq_publisher import RabbitPublisher, _Batch
        from outbox.relay import Relay

        send, wait = RabbitPublisher.send, _Batch.wait
        start_batch, finish_batch = Relay._start, Relay._finish
        claimed_at: list[float] = [0.0]
        batches: dict[int, list[float]] = {}  # id(confirmations) → [cycle, send, confirmed]

        def timed_start(self: Any, **kwargs: Any) -> Any:
            claimed_at[0] = now()
            return start_batch(self, **kwargs)

        def timed_send(self: Any, messages: Any) -> Any:
            t0 = now()
            confirmations = send(self, messages)
            batches[id(confirmations)] = [claimed_at[0], t0]
            return confirmations

        def timed_wait(self: Any, timeout: float) -> Any:
            outcome = wait(self, timeout)
            if id(self) in batches:
                batches[id(self)].append(now())
            return outcome

        def timed_finish(self: Any, batch: Any, **kwargs: Any) -> int:
            published = finish_batch(self, batch, **kwargs)
            times = batches.pop(id(batch.confirmations), None)
            if times and len(times) == 3:
                outcome = batch.confirmations.outcome
                ids = ",".join(map(str, [*outcome.confirmed, *outcome.failed]))
                emit(f"P {times[0]:.6f} {times[1]:.6f} {times[2]:.6f} {now():.6f} {ids}\n")
            return published

        RabbitPublisher.send = timed_send  # type: ignore[method-assign]
        _Batch.wait = timed_wait  # type: ignore[method-assign]
        Relay._start = timed_start  # type: ignore[method-assign]
        Relay._finish = timed_finish  # type: ignore[method-assign]
    elif role == "worker":
        import importlib

        import dramatiq.worker

        from actors import registry

        consumer = dramatiq.worker._ConsumerThread
        handle_message = consumer.handle_message

        def timed_handle_message(self: Any, message: Any) -> None:
            emit(f"R {message.message_id} {now():.6f}\n")
            handle_message(self, message)

        apply = registry._apply

        def timed_apply(
            engine: Any, envelope: Any, handler: Any, policy: Any, **options: Any
        ) -> str:
            start = now()

            def timed_handler(env: Any) -> object:
                h0 = now()
                try:
                    return handler(env)
                finally:
                    emit(f"H {env.event_id} {env.destination} {h0:.6f} {now():.6f}\n")

            try:
                return apply(engine, envelope, timed_handler, policy, **options)
            finally:
                emit(
                    f"A {envelope.event_id} {envelope.destination} {start:.6f} {now():.6f}"
                    f" {threading.get_ident()}\n"
                )

        def timed_step(name: str, step: Callable[..., Any]) -> Callable[..., Any]:
            def timed(*args: Any, **kwargs: Any) -> Any:
                t0 = now()
                try:
                    return step(*args, **kwargs)
                finally:
                    emit(f"S {name} {t0:.6f} {now():.6f} {threading.get_ident()}\n")

            return timed

        for name in GUARD_STEPS:
            home = importlib.import_module(GUARD_STEP_MODULES[name])
            setattr(home, name, timed_step(name, getattr(home, name)))

        consumer.handle_message = timed_handle_message  # type: ignore[method-assign]
        registry._apply = timed_apply


GUARD_STEPS = (  # the adapters.db functions deliver() calls, in order
    "open_delivery",
    "breaker_state_locked",
    "set_status",
    "close_delivery",
)
GUARD_STEP_MODULES = {
    "open_delivery": "adapters.db.delivery_transaction",
    "breaker_state_locked": "adapters.db.breakers",
    "set_status": "adapters.db.ledger",
    "close_delivery": "adapters.db.delivery_transaction",
}


def _noop_worker(url: str, out: str, threads: str, go: str) -> None:
    """A trivial Dramatiq actor on a RabbitmqBroker (default middleware, like ours).
    Records (sent, started) per message; writes its count to OUT.count every 20 ms
    and every stamp to OUT on SIGTERM. With GO != "-", waits for that file to exist."""
    import dramatiq
    from dramatiq.brokers.rabbitmq import RabbitmqBroker

    broker = RabbitmqBroker(url=url)
    dramatiq.set_broker(broker)
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
    count_path = out + ".count"
    while not done.wait(0.02):
        with open(count_path + ".tmp", "w") as f:
            f.write(str(len(stamps)))
        os.replace(count_path + ".tmp", count_path)
    worker.stop()
    broker.close()
    with open(out, "w") as f:
        json.dump(stamps, f)


# ----------------------------------------------------------------------------------------
# Scratch database, vhost, processes
# ----------------------------------------------------------------------------------------


def admin_sql(*statements: str) -> None:
    import psycopg

    with psycopg.connect(f"{SERVER}/postgres", autocommit=True, application_name=BENCH_APP) as c:
        for statement in statements:
            c.execute(statement.encode())


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=120)


def cpu_ticks(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


def broker_pid() -> int | None:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == "beam.smp":
                    return int(entry.name)
    return None


class Proc(LoggedProcess):
    """One process of the stack, started through child_main (the timing shim)."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        command = [sys.executable, "-c", "import bench.actors as b; b.child_main()", *args]
        log_path = log_dir / f"{name}-{time.monotonic_ns()}.log"
        super().__init__(name, command, env, log_path, ROOT)


def stop_all(procs: list[Proc]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait()


def wait_until(
    condition: Callable[[], bool],
    timeout: float,
    what: str,
    step: float = 0.05,
    check: Callable[[], None] | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if check:
            check()
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(step)


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.name = f"ordersync_bench_actors_{uuid.uuid4().hex[:8]}"
        self.work = Path(tempfile.mkdtemp(prefix="bench-actors-"))
        self.logs = self.work / "logs"
        self.traces = self.work / "traces"
        self.logs.mkdir()
        self.traces.mkdir()
        self.procs: dict[str, Proc] = {}
        self.extra: list[Proc] = []
        self.sim_port = free_port()
        self.api_port = free_port()
        self.channel_key = ""
        self.skus = [f"BENCH-{i:03d}" for i in range(args.skus)]
        self.rng = random.Random(7)
        self.db_created = self.vhost_created = False
        self.engine: Any = None
        self.msg_size = 2000
        self.tag = 0

    # -- setup and teardown ------------------------------------------------------------

    def setup(self) -> None:
        from adapters.db.engine import make_engine
        from adapters.db.migrate import upgrade

        log(f"scratch database and vhost {self.name}")
        admin_sql(f'CREATE DATABASE "{self.name}"')
        self.db_created = True
        upgrade(sa_url(self.name))
        rabbitmqctl("add_vhost", self.name)
        self.vhost_created = True
        rabbitmqctl("set_permissions", "-p", self.name, "guest", ".*", ".*", ".*")
        self.engine = make_engine(sa_url(self.name), pool_size=4)

    def teardown(self) -> None:
        stop_all([*self.procs.values(), *self.extra])
        self.procs.clear()
        self.extra.clear()
        if self.engine is not None:
            self.engine.dispose()
        if self.db_created:
            with contextlib.suppress(Exception):
                admin_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        if self.vhost_created:
            with contextlib.suppress(Exception):
                rabbitmqctl("delete_vhost", self.name)
        if self.args.keep_logs:
            log(f"logs and traces kept in {self.work}")
        else:
            shutil.rmtree(self.work, ignore_errors=True)

    # -- the stack -----------------------------------------------------------------------

    def env(self, *, notify: bool, traced: bool) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERSYNC_")}
        env.update(
            ORDERSYNC_DATABASE_URL=sa_url(self.name),
            ORDERSYNC_BROKER_URL=amqp_url(self.name),
            ORDERSYNC_ADMIN_TOKEN=ADMIN,
            ORDERSYNC_ERP_URL=f"{self.sim}/erp",
            ORDERSYNC_WMS_URL=f"{self.sim}/wms",
            ORDERSYNC_CRM_URL=f"{self.sim}/crm",
            ORDERSYNC_OUTBOX_NOTIFY="true" if notify else "false",
            PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        )
        if traced:
            env["BENCH_TRACE_DIR"] = str(self.traces)
        if self.args.switch_interval:
            env["BENCH_SWITCH_INTERVAL"] = str(self.args.switch_interval)
        return env

    @property
    def sim(self) -> str:
        return f"http://127.0.0.1:{self.sim_port}"

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def start(self, name: str, *args: str, notify: bool = False, traced: bool = False) -> None:
        self.procs[name] = Proc(name, list(args), self.env(notify=notify, traced=traced), self.logs)

    def check(self) -> None:
        for p in self.procs.values():
            p.check()

    @staticmethod
    def answers(url: str) -> bool:
        import httpx

        try:
            return httpx.get(url, timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def start_stack(self) -> None:
        """Sim, API, relay, 2 workers (traced); the channel, stock; a warm-up."""
        import httpx

        from adapters.db import registry

        with self.engine.begin() as conn:
            self.channel_key = registry.add_channel(
                conn, "web", "canonical", api_url=f"{self.sim}/channels/web"
            )
        self.start("sim", "sim", "--port", str(self.sim_port))
        wait_until(
            lambda: self.answers(f"{self.sim}/_sim/health"), 60, "the simulators", check=self.check
        )
        self.start_writers(notify=False, traced=True)
        self.start_workers(traced=True)
        response = httpx.post(
            f"{self.api}/v1/inventory/adjustments",
            headers={"Authorization": f"Bearer {ADMIN}"},
            json={
                "adjustments": [
                    {"sku": s, "location": "WH-EAST", "set_on_hand": 10_000_000} for s in self.skus
                ]
            },
            timeout=30,
        )
        response.raise_for_status()
        self.warm_up()

    def start_writers(self, *, notify: bool, traced: bool) -> None:
        self.api_port = free_port()
        self.start("api", "api", "--port", str(self.api_port), notify=notify, traced=traced)
        self.start("relay", "relay", notify=notify, traced=traced)
        wait_until(lambda: self.answers(f"{self.api}/readyz"), 60, "the API", check=self.check)

    def stop_writers(self) -> None:
        stop_all([self.procs.pop("api"), self.procs.pop("relay")])

    def start_workers(self, *, traced: bool) -> None:
        for i in (1, 2):
            self.start(f"worker{i}", "worker", "--threads", "8", traced=traced)

    def stop_workers(self) -> None:
        stop_all([self.procs.pop("worker1"), self.procs.pop("worker2")])

    def warm_up(self, n: int = 20) -> None:
        """A few orders through everything: leases taken, queues declared, consumers up."""
        mark = self.watermark()
        docs = [self.doc(f"WARM-{self.tag}-{i}") for i in range(n)]
        self.tag += 1
        asyncio.run(self.post_fast(docs, 4))
        wait_until(lambda: self.unsettled(mark) == 0, 90, "the warm-up orders", check=self.check)

    # -- orders ----------------------------------------------------------------------------

    def doc(self, external_id: str) -> dict[str, Any]:
        from tests.factories import order_doc

        a, b = self.rng.sample(self.skus, 2)
        return order_doc(external_id, [(a, 1), (b, 1)])

    async def _post(self, session: Any, body: bytes) -> tuple[str, float, float]:
        t0 = time.time()
        async with session.post(
            f"{self.api}/v1/orders",
            data=body,
            headers={
                "Authorization": f"Bearer {self.channel_key}",
                "Content-Type": "application/json",
            },
        ) as response:
            payload = await response.read()
            t1 = time.time()
            if response.status != 201:
                raise RuntimeError(f"POST /v1/orders: {response.status} {payload[:300]!r}")
        return str(json.loads(payload)["id"]), t0, t1

    async def post_paced(
        self, docs: list[dict[str, Any]], rate: float, mark: int, max_backlog: int
    ) -> tuple[list[tuple[str, float, float]], float | None]:
        """Open loop at `rate`; stops early (returns when) once more than `max_backlog`
        deliveries of this run are unsettled: the stack is not keeping up."""
        import aiohttp

        bodies = [json.dumps(d).encode() for d in docs]
        loop = asyncio.get_running_loop()
        stop: list[float] = []

        async def watch() -> None:
            while True:
                await asyncio.sleep(0.25)
                if await loop.run_in_executor(None, self.unsettled, mark) > max_backlog:
                    stop.append(loop.time())
                    return

        watcher = asyncio.create_task(watch())
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256)) as session:
            start = loop.time() + 0.05
            tasks = []
            for i, body in enumerate(bodies):
                delay = start + i / rate - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                if stop:
                    break
                tasks.append(asyncio.create_task(self._post(session, body)))
            watcher.cancel()
            results = list(await asyncio.gather(*tasks))
        return results, (stop[0] - start if stop else None)

    async def post_fast(
        self, docs: list[dict[str, Any]], concurrency: int
    ) -> list[tuple[str, float, float]]:
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

    # -- the ledger --------------------------------------------------------------------------

    def scalar(self, query: str, **params: Any) -> Any:
        import sqlalchemy as sa

        with self.engine.connect() as conn:
            return conn.execute(sa.text(query), params).scalar()

    def rows(self, query: str, **params: Any) -> list[Any]:
        import sqlalchemy as sa

        with self.engine.connect() as conn:
            return list(conn.execute(sa.text(query), params).all())

    def watermark(self) -> int:
        return int(self.scalar("SELECT coalesce(max(id), 0) FROM outbox_deliveries"))

    def unsettled(self, mark: int) -> int:
        return int(
            self.scalar(
                "SELECT count(*) FROM outbox_deliveries WHERE id > :m"
                " AND status NOT IN ('applied', 'superseded')",
                m=mark,
            )
        )

    def statuses(self, mark: int) -> dict[str, int]:
        return {
            r[0]: r[1]
            for r in self.rows(
                "SELECT status, count(*) FROM outbox_deliveries WHERE id > :m GROUP BY status",
                m=mark,
            )
        }

    def sim_reset(self) -> None:
        import httpx

        for system in ("erp", "wms", "crm", "channels"):
            httpx.post(f"{self.sim}/_sim/{system}/reset", timeout=10)


# ----------------------------------------------------------------------------------------
# Latency through the stack
# ----------------------------------------------------------------------------------------


STAGES = [  # (label, from, to) over the per-order timestamps
    ("commit → relay cycle starts (wake-up)", "commit", "cycle"),
    ("relay cycle → publish starts (claim, build)", "cycle", "pub0"),
    ("publish → confirmed", "pub0", "pub1"),
    ("publish → worker's consumer receives", "pub0", "recv"),
    ("received → actor starts (work queue, thread)", "recv", "actor"),
    ("actor → handler starts (guard's DB before)", "actor", "handler"),
    ("handler → ERP sim has the document (HTTP)", "handler", "erp"),
    ("ERP sim → handler returns (HTTP answer)", "erp", "handler_end"),
    ("handler returns → guard committed (DB after)", "handler_end", "done"),
    ("relay confirm → relay cycle committed", "pub1", "cycle_end"),
]
END_TO_END = [  # (label, from, to)
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
    cycles: dict[int, tuple[float, float, float, float]] = {}
    received: dict[str, float] = {}
    actors: dict[tuple[str, str], tuple[float, float, str]] = {}
    handlers: dict[tuple[str, str], tuple[float, float]] = {}
    steps: dict[str, list[tuple[float, float, str]]] = collections.defaultdict(list)
    for path in trace_dir.glob("*.trace"):
        for line in path.read_text().splitlines():
            parts = line.split(" ")
            kind = parts[0]
            if kind == "C":
                commits.setdefault(parts[1], float(parts[2]))
            elif kind == "P" and len(parts) == 6:
                times = tuple(float(x) for x in parts[1:5])
                for i in parts[5].split(","):
                    cycles.setdefault(int(i), times)  # type: ignore[arg-type]
            elif kind == "R":
                received.setdefault(parts[1], float(parts[2]))
            elif kind == "A" and len(parts) == 6:
                thread = f"{path.name}/{parts[5]}"
                actors.setdefault((parts[1], parts[2]), (float(parts[3]), float(parts[4]), thread))
            elif kind == "H":
                handlers.setdefault((parts[1], parts[2]), (float(parts[3]), float(parts[4])))
            elif kind == "S" and len(parts) == 5:
                steps[f"{path.name}/{parts[4]}"].append(
                    (float(parts[2]), float(parts[3]), parts[1])
                )
    for thread_steps in steps.values():
        thread_steps.sort()
    return {"C": commits, "P": cycles, "R": received, "A": actors, "H": handlers, "S": steps}


def guard_steps(traces: dict[str, Any], key: tuple[str, str]) -> dict[str, float]:
    """ms per step of one actor run: before the first statement, each query, COMMIT."""
    start, end, thread = traces["A"][key]
    thread_steps = traces["S"].get(thread, [])
    i = bisect.bisect_left(thread_steps, (start,))
    inside = []
    while i < len(thread_steps) and thread_steps[i][0] <= end:
        inside.append(thread_steps[i])
        i += 1
    if not inside:
        return {}
    out: dict[str, float] = collections.defaultdict(float)
    out["(actor start → first statement)"] = 1000 * (inside[0][0] - start)
    for t0, t1, name in inside:
        out[name] += 1000 * (t1 - t0)
    out["(last statement → COMMIT done)"] = 1000 * (end - inside[-1][1])
    return dict(out)


def latency_run(
    bench: Bench, mode: str, seconds: float, rate: float, max_backlog: int
) -> dict[str, Any]:
    import httpx

    from outbox.messages import message_id

    n = int(seconds * rate)
    bench.tag += 1
    docs = [bench.doc(f"LAT-{bench.tag}-{i}") for i in range(n)]
    mark = bench.watermark()
    cpu = CpuMeter(bench)
    cpu.start()
    results, stopped = asyncio.run(bench.post_paced(docs, rate, mark, max_backlog))
    cpu.stop()
    ids = [r[0] for r in results]
    bench.check()
    wait_until(
        lambda: bench.unsettled(mark) == 0,
        120,
        f"{mode}: every delivery settled",
        step=0.1,
        check=bench.check,
    )
    time.sleep(0.2)  # the last trace lines
    rows = bench.rows(
        "SELECT e.aggregate_id, e.event_id, extract(epoch FROM e.created_at), d.id,"
        " extract(epoch FROM d.published_at), extract(epoch FROM d.applied_at), d.generation"
        " FROM outbox_events e JOIN outbox_deliveries d USING (event_id)"
        " WHERE e.event_type = 'order.accepted' AND d.destination = 'erp' AND d.id > :m",
        m=mark,
    )
    erp = httpx.get(
        f"{bench.sim}/_sim/erp/documents", params={"type": "sales_order"}, timeout=60
    ).json()["documents"]
    erp_at = {
        d["body"]["order_ref"]: datetime.fromisoformat(d["received_at"]).timestamp() for d in erp
    }
    traces = read_traces(bench.traces)
    by_order = {r[0]: r for r in rows}
    samples: list[dict[str, float]] = []
    missing = 0
    for order_id, t_send, t_resp in results:
        row = by_order.get(order_id)
        commit = traces["C"].get(order_id)
        if row is None or commit is None:
            missing += 1
            continue
        _, event_id, created, delivery_id, published_at, applied_at, generation = row
        key = (str(event_id), "erp")
        s: dict[str, float] = {
            "send": t_send,
            "response": t_resp,
            "commit": commit,
            "created": float(created),
            "published_at": float(published_at or "nan"),
            "applied_at": float(applied_at or "nan"),
        }
        if delivery_id in traces["P"]:
            s["cycle"], s["pub0"], s["pub1"], s["cycle_end"] = traces["P"][delivery_id]
        mid = message_id(event_id, "erp", generation)
        if mid in traces["R"]:
            s["recv"] = traces["R"][mid]
        if key in traces["A"]:
            s["actor"], s["done"], _ = traces["A"][key]
            s.update({f"guard:{k}": v for k, v in guard_steps(traces, key).items()})
        if key in traces["H"]:
            s["handler"], s["handler_end"] = traces["H"][key]
        if order_id in erp_at:
            s["erp"] = erp_at[order_id]
        samples.append(s)
    bench.sim_reset()
    statuses = bench.statuses(mark)
    sent = [r[1] for r in results]
    runs = actor_runs(bench, traces, mark)
    return {
        "mode": mode,
        "rate": rate,
        "stopped_after": stopped,
        "actor_runs": runs,
        "orders": len(ids),
        "offered_rate": (len(sent) - 1) / (max(sent) - min(sent)) if len(sent) > 1 else 0,
        "missing": missing,
        "statuses": statuses,
        "cpu": cpu.percent(),
        "samples": samples,
    }


def actor_runs(bench: Bench, traces: dict[str, Any], mark: int) -> dict[str, tuple[int, int]]:
    """Per destination: (deliveries of the run, actor runs on them) — a parked message
    runs again when it is released."""
    rows = bench.rows("SELECT event_id, destination FROM outbox_deliveries WHERE id > :m", m=mark)
    deliveries = collections.Counter(r[1] for r in rows)
    keys = {(str(r[0]), r[1]) for r in rows}
    runs: collections.Counter[str] = collections.Counter()
    for path in bench.traces.glob("worker-*.trace"):
        for line in path.read_text().splitlines():
            if line.startswith("A "):
                _, event_id, dest, *_ = line.split(" ")
                if (event_id, dest) in keys:
                    runs[dest] += 1
    return {d: (deliveries[d], runs[d]) for d in sorted(deliveries)}


def spans(samples: list[dict[str, float]], a: str, b: str) -> list[float]:
    return [
        1000 * (s[b] - s[a])
        for s in samples
        if a in s and b in s and not math.isnan(s[a]) and not math.isnan(s[b])
    ]


class CpuMeter:
    """CPU% (of one core) per component over a run, from /proc."""

    def __init__(self, bench: Bench) -> None:
        self.bench = bench

    def groups(self) -> dict[str, list[int]]:
        groups: dict[str, list[int]] = {name: [p.pid] for name, p in self.bench.procs.items()}
        groups["postgres"] = [
            r[0]
            for r in self.bench.rows(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid()"
            )
        ]
        beam = broker_pid()
        groups["rabbitmq"] = [beam] if beam else []
        groups["bench client"] = [os.getpid()]
        return groups

    def start(self) -> None:
        self.t0 = time.monotonic()
        self.before = {g: {p: cpu_ticks(p) for p in pids} for g, pids in self.groups().items()}
        self.total0 = _total_cpu()

    def stop(self) -> None:
        self.elapsed = time.monotonic() - self.t0
        self.total1 = _total_cpu()
        self.after = {g: {p: cpu_ticks(p) for p in pids} for g, pids in self.groups().items()}

    def percent(self) -> dict[str, float]:
        out = {}
        for g, pids in self.after.items():
            ticks = sum(t - self.before.get(g, {}).get(p, t) for p, t in pids.items())
            out[g] = 100 * ticks / CLK_TCK / self.elapsed
        busy0, all0 = self.total0
        busy1, all1 = self.total1
        out["machine (of 2 cores)"] = (
            100 * (busy1 - busy0) / max(all1 - all0, 1) * (os.cpu_count() or 1)
        )
        return out


def _total_cpu() -> tuple[int, int]:
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


# ----------------------------------------------------------------------------------------
# Baselines of the latency: raw pika, and a trivial Dramatiq actor
# ----------------------------------------------------------------------------------------


def pika_round_trip(vhost: str, seconds: float, rate: float, size: int) -> dict[str, Any]:
    import pika

    queue = "bench_rtt"
    params = pika.URLParameters(amqp_url(vhost))
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
    n = int(seconds * rate)
    pad = b"x" * max(0, size - 17)
    confirms: list[float] = []
    start = time.perf_counter() + 0.05
    for i in range(n):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        t = time.time()
        ch.basic_publish("", queue, f"{t:17.6f}".encode() + pad, props, mandatory=True)
        confirms.append(1000 * (time.time() - t))
    conn.close()
    deadline = time.monotonic() + 10
    while len(arrivals) < n and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    consumer.join(5)
    return {"latency": [1000 * (b - a) for a, b in arrivals], "confirm": confirms, "n": n}


def start_noop_workers(bench: Bench, go: str) -> list[tuple[Proc, str]]:
    env = bench.env(notify=False, traced=False)
    out = []
    for i in (1, 2):
        path = str(bench.work / f"noop-{time.monotonic_ns()}-{i}.json")
        proc = Proc(
            f"noop{i}", ["noop-worker", amqp_url(bench.name), path, "8", go], env, bench.logs
        )
        bench.extra.append(proc)
        out.append((proc, path))
    for proc, path in out:
        wait_until(
            functools.partial(os.path.exists, path + ".ready"), 60, "a worker", check=proc.check
        )
    return out


def noop_counts(workers: list[tuple[Proc, str]]) -> int:
    total = 0
    for _, path in workers:
        with contextlib.suppress(OSError, ValueError):
            total += int(Path(path + ".count").read_text() or 0)
    return total


def stop_noop_workers(bench: Bench, workers: list[tuple[Proc, str]]) -> list[tuple[float, float]]:
    stop_all([p for p, _ in workers])
    stamps: list[tuple[float, float]] = []
    for proc, path in workers:
        bench.extra.remove(proc)
        with contextlib.suppress(OSError):
            stamps += [(float(a), float(b)) for a, b in json.loads(Path(path).read_text())]
    return stamps


def noop_broker(bench: Bench, *, confirm: bool) -> Any:
    import dramatiq
    from dramatiq.brokers.rabbitmq import RabbitmqBroker

    broker = RabbitmqBroker(url=amqp_url(bench.name), confirm_delivery=confirm)

    def bench_noop(sent: float = 0.0, pad: str = "") -> None:
        pass

    actor = dramatiq.actor(actor_name=NOOP_QUEUE, queue_name=NOOP_QUEUE, broker=broker)(bench_noop)
    return broker, actor


def dramatiq_round_trip(bench: Bench, seconds: float, rate: float, size: int) -> dict[str, Any]:
    broker, actor = noop_broker(bench, confirm=True)
    workers = start_noop_workers(bench, "-")
    try:
        actor.send(0.0, "")  # declares the queues; waits for the consumers
        wait_until(lambda: noop_counts(workers) >= 1, 30, "the no-op workers to consume")
        n = int(seconds * rate)
        pad = "x" * max(0, size - 200)  # the rest of a Dramatiq message is ~200 bytes
        start = time.perf_counter() + 0.05
        for i in range(n):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            actor.send(time.time(), pad)
        wait_until(lambda: noop_counts(workers) >= n + 1, 30, "the no-op actor's messages")
    finally:
        stamps = stop_noop_workers(bench, workers)
        broker.close()
    return {"latency": [1000 * (b - a) for a, b in stamps if a > 0], "n": n}


def guard_alone(bench: Bench, n: int = 400) -> dict[str, float]:
    """The guard's two statements for one ERP delivery (adapters.db.delivery_transaction,
    as deliver() calls them, a new aggregate's cursor) in one thread, the stack idle: ms
    per step, median of n. Rolled back, so nothing changes; ROLLBACK stands in for COMMIT (which
    also flushes the WAL, ~0.1 ms here)."""
    from adapters.db import delivery_transaction
    from adapters.db.engine import make_engine

    row = bench.rows(
        "SELECT id, event_id FROM outbox_deliveries WHERE destination = 'erp' ORDER BY id DESC"
        " LIMIT 1"
    )[0]
    delivery_id, event_id = row[0], row[1]
    engine = make_engine(sa_url(bench.name), pool_size=2)
    times: dict[str, list[float]] = collections.defaultdict(list)
    try:
        for i in range(n):
            message = SimpleNamespace(
                destination="erp",
                aggregate_type="order",
                aggregate_id=f"bench-guard-{i}",
                event_id=event_id,
                generation=0,
                sequence=1,
            )
            # The inbox row of a fresh event id: the real one may be applied already.
            fresh = SimpleNamespace(**{**vars(message), "event_id": uuid.uuid4()})
            t0 = time.perf_counter()
            with engine.connect() as conn:
                trans = conn.begin()
                p = functools.partial
                steps: list[tuple[str, Callable[[], object]]] = [
                    ("open_delivery", p(delivery_transaction.open_delivery, conn, message)),
                    (
                        "close_delivery",
                        p(delivery_transaction.close_delivery, conn, fresh, delivery_id, "applied"),
                    ),
                ]
                for name, step in steps:
                    a = time.perf_counter()
                    step()
                    times[name].append(1000 * (time.perf_counter() - a))
                a = time.perf_counter()
                trans.rollback()
                times["ROLLBACK"].append(1000 * (time.perf_counter() - a))
            times["whole transaction"].append(1000 * (time.perf_counter() - t0))
            with engine.connect() as conn:
                a = time.perf_counter()
                conn.exec_driver_sql("SELECT 1").all()
                times["a bare SELECT 1 round trip (reference)"].append(
                    1000 * (time.perf_counter() - a)
                )
    finally:
        engine.dispose()
    return {k: statistics.median(v) for k, v in times.items()}


# ----------------------------------------------------------------------------------------
# Throughput
# ----------------------------------------------------------------------------------------


def throughput_run(bench: Bench, n: int) -> dict[str, Any]:
    bench.tag += 1
    docs = [bench.doc(f"TP-{bench.tag}-{i}") for i in range(n)]
    mark = bench.watermark()
    cpu = CpuMeter(bench)
    cpu.start()
    t0 = time.time()
    results = asyncio.run(bench.post_fast(docs, 8))
    t_posted = max(r[2] for r in results)
    wait_until(
        lambda: bench.unsettled(mark) == 0,
        300,
        "every delivery applied",
        step=0.02,
        check=bench.check,
    )
    t_end = time.time()
    cpu.stop()
    first = min(r[1] for r in results)
    row = bench.rows(
        "SELECT count(*), extract(epoch FROM min(updated_at)), extract(epoch FROM max(updated_at))"
        " FROM outbox_deliveries WHERE id > :m",
        m=mark,
    )[0]
    deliveries, d0, d1 = int(row[0]), float(row[1]), float(row[2])
    statuses = bench.statuses(mark)
    bench.sim_reset()
    return {
        "orders": n,
        "orders_per_s": n / (t_end - first),
        "ingest_per_s": n / (t_posted - first),
        "seconds": t_end - t0,
        "deliveries": deliveries,
        "deliveries_per_s": deliveries / max(d1 - d0, 1e-9),
        "statuses": statuses,
        "cpu_ms_per_order": {k: v * cpu.elapsed / 100 * 1000 / n for k, v in cpu.percent().items()},
    }


def noop_drain(bench: Bench, m: int) -> dict[str, Any]:
    import pika

    go = str(bench.work / f"go-{time.monotonic_ns()}")
    broker, actor = noop_broker(bench, confirm=False)
    workers = start_noop_workers(bench, go)
    try:
        for _ in range(m):
            actor.send(0.0, "")
        conn = pika.BlockingConnection(pika.URLParameters(amqp_url(bench.name)))
        ch = conn.channel()
        wait_until(
            lambda: ch.queue_declare(NOOP_QUEUE, passive=True).method.message_count >= m,
            60,
            "the enqueued no-op messages",
        )
        conn.close()
        Path(go).touch()
        wait_until(lambda: noop_counts(workers) >= m, 120, "the no-op drain", step=0.02)
    finally:
        stamps = stop_noop_workers(bench, workers)
        broker.close()
    times = sorted(t for _, t in stamps)
    return {"messages": len(times), "rate": (len(times) - 1) / (times[-1] - times[0])}


# ----------------------------------------------------------------------------------------
# Profile (optional)
# ----------------------------------------------------------------------------------------


PHASES = [  # (label, markers): the first phase one of whose markers is in the stack
    (
        "guard, before the handler (lock cursor, ledger, inbox, breaker reads)",
        (
            "open_delivery (adapters/db/delivery_transaction",
            "breaker_state_locked (adapters/db/breakers",
        ),
    ),
    (
        "handler: the HTTP call to the simulator (build, send, parse)",
        ("<lambda> (actors/registry.py",),
    ),
    (
        "guard, after the handler (inbox, status, cursor, successor, breaker writes)",
        (
            "close_delivery (adapters/db/delivery_transaction",
            "set_status (adapters/db/ledger",
        ),
    ),
    ("guard: connection checkout, BEGIN, COMMIT", ("deliver (actors/guard.py",)),
    ("actor: Envelope validation, channel lookup", ("apply (actors/registry.py",)),
    ("Dramatiq worker thread, outside the actor", ("WorkerThread",)),
    ("Dramatiq consumer thread (pika)", ("ConsumerThread",)),
]
LIBRARIES = [
    ("psycopg (driver)", ("psycopg/",)),
    ("SQLAlchemy (statement building, cache keys, compile, results)", ("sqlalchemy/",)),
    ("httpx / httpcore / h11", ("httpx/", "httpcore/", "h11/")),
    ("pydantic", ("pydantic",)),
    ("pika", ("pika/",)),
    ("json", ("json/",)),
    ("Dramatiq", ("dramatiq/",)),
]


def classify(
    frames: list[str], table: list[tuple[str, tuple[str, ...]]], default: str = "other"
) -> str:
    for label, markers in table:
        if any(m in f for f in frames for m in markers):
            return label
    return default


def summarize_profile(path: Path, seconds: float, rate: int) -> dict[str, Any]:
    """py-spy --gil samples (the thread holding the GIL: the process's Python CPU) by
    phase of a delivery, and by library (innermost library frame wins)."""
    phases: collections.Counter[str] = collections.Counter()
    libraries: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        count, frames = int(n), stack.split(";")
        total += count
        phases[classify(frames, PHASES, "unattributed (a stack py-spy cut short)")] += count
        library = "application code / stdlib"
        for frame in reversed(frames):
            found = classify([frame], LIBRARIES)
            if found != "other":
                library = found
                break
        libraries[library] += count
    return {
        "gil_held_pct": 100 * total / max(seconds * rate, 1),
        "phases": {k: 100 * v / max(total, 1) for k, v in phases.most_common()},
        "libraries": {k: 100 * v / max(total, 1) for k, v in libraries.most_common()},
    }


def profile_run(bench: Bench, directory: Path, n: int) -> dict[str, Any]:
    """One more throughput run, py-spy --gil on a worker for its busiest stretch."""
    directory.mkdir(parents=True, exist_ok=True)
    spy = str(Path(sys.executable).parent / "py-spy")
    seconds, rate = 8, 200
    out = directory / "worker1-gil.txt"
    result: dict[str, Any] = {}
    done = threading.Event()

    def record() -> None:
        time.sleep(1)  # the backlog builds up: the workers are busy from here on
        subprocess.run(
            [
                spy,
                "record",
                "--pid",
                str(bench.procs["worker1"].pid),
                "--duration",
                str(seconds),
                "--rate",
                str(rate),
                "--format",
                "raw",
                "--gil",
                "--nonblocking",
                "-o",
                str(out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=seconds + 60,
        )
        done.set()

    spy_thread = threading.Thread(target=record, daemon=True)
    spy_thread.start()
    result["run"] = throughput_run(bench, n)
    done.wait(seconds + 60)
    if out.exists():
        result["worker"] = summarize_profile(out, seconds, rate)
    return result


# ----------------------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------------------


def fmt(values: list[float], digits: int = 1) -> str:
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return "—"
    m = med(values)
    runs = ", ".join(f"{v:.{digits}f}" for v in values)
    return f"{m:.{digits}f} [{runs}]" if len(values) > 1 else f"{m:.{digits}f}"


def latency_table(runs: dict[str, list[dict[str, Any]]]) -> str:
    lines = ["### End-to-end latency (ms; median of runs [each run])", ""]
    for key, key_runs in runs.items():
        notes = []
        for i, r in enumerate(key_runs, 1):
            sat = (
                f"stopped after {r['stopped_after']:.1f}s: backlog over the limit"
                if r["stopped_after"] is not None
                else "ran its course"
            )
            notes.append(f"run {i}: {r['orders']} orders at {r['offered_rate']:.0f}/s, {sat}")
        lines += [
            f"**{key}** ({'; '.join(notes)})",
            "",
            "| span | p50 | p95 | p99 |",
            "|---|---:|---:|---:|",
        ]
        for label, a, b in END_TO_END:
            cells = [
                fmt([pct(spans(r["samples"], a, b), p) for r in key_runs]) for p in (50, 95, 99)
            ]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        growth = fmt([growth_rate(r["samples"]) for r in key_runs], 0)
        lines += ["", f"commit → handler grows by {growth} ms per second of posting.", ""]
    return "\n".join(lines)


def growth_rate(samples: list[dict[str, float]]) -> float:
    """Least-squares slope of commit → handler (ms) over the commit time (s): ~0 when the
    stack keeps up, ~1000 × (1 − capacity / rate) when it does not."""
    points = [(s["commit"], 1000 * (s["handler"] - s["commit"])) for s in samples if "handler" in s]
    if len(points) < 3:
        return float("nan")
    mx = statistics.fmean(x for x, _ in points)
    my = statistics.fmean(y for _, y in points)
    sxx = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else float("nan")


def stages_table(runs: dict[str, list[dict[str, Any]]]) -> str:
    keys = list(runs)
    lines = [
        "### Commit → ERP handler, hop by hop (ms, p50 / p99; median of runs)",
        "",
        "| hop | " + " | ".join(keys) + " |",
        "|---|" + "---:|" * len(keys),
    ]
    for label, a, b in STAGES:
        cells = []
        for k in keys:
            p50 = med([pct(spans(r["samples"], a, b), 50) for r in runs[k]])
            p99 = med([pct(spans(r["samples"], a, b), 99) for r in runs[k]])
            cells.append(f"{p50:.1f} / {p99:.1f}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def guard_table(runs: dict[str, list[dict[str, Any]]], alone: list[dict[str, float]]) -> str:
    keys = list(runs)
    names = ["(actor start → first statement)", *GUARD_STEPS, "(last statement → COMMIT done)"]
    lines = [
        "### Inside the guard, ERP message (ms of wall time, p50 / p99; median of runs)",
        "",
        "*alone*: the same statements in one thread with the stack idle (p50; ROLLBACK for "
        "COMMIT).",
        "",
        "| step (open_delivery includes BEGIN) | alone | " + " | ".join(keys) + " |",
        "|---|---:|" + "---:|" * len(keys),
    ]
    solo = {
        "(last statement → COMMIT done)": "ROLLBACK",
        "(actor start → first statement)": "",
    }
    for name in names:
        base = med([a.get(solo.get(name, name), float("nan")) for a in alone])
        cells = ["—" if math.isnan(base) else f"{base:.2f}"]
        for k in keys:
            values = [
                [s[f"guard:{name}"] for s in r["samples"] if f"guard:{name}" in s] for r in runs[k]
            ]
            p50 = med([pct(v, 50) for v in values if v])
            p99 = med([pct(v, 99) for v in values if v])
            cells.append("—" if math.isnan(p50) else f"{p50:.2f} / {p99:.1f}")
        if any(c != "—" for c in cells):
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if alone:
        whole = med([a["whole transaction"] for a in alone])
        bare = med([a["a bare SELECT 1 round trip (reference)"] for a in alone])
        lines += [
            "",
            f"Alone, the guard transaction (connect, 2 statements, ROLLBACK) takes {whole:.2f} ms;"
            f" a bare `SELECT 1` round trip {bare:.2f} ms.",
        ]
    return "\n".join(lines) + "\n"


def runs_table(runs: dict[str, list[dict[str, Any]]]) -> str:
    keys = list(runs)
    dests = sorted({d for k in keys for r in runs[k] for d in r["actor_runs"]})
    lines = [
        "### Actor runs per delivery (a parked message runs again when released)",
        "",
        "| destination | " + " | ".join(keys) + " |",
        "|---|" + "---:|" * len(keys),
    ]
    for d in dests:
        cells = []
        for k in keys:
            ratios = [
                r["actor_runs"][d][1] / max(r["actor_runs"][d][0], 1)
                for r in runs[k]
                if d in r["actor_runs"]
            ]
            cells.append(f"{med(ratios):.2f}")
        lines.append(f"| {d} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def baseline_table(base: dict[str, list[dict[str, Any]]], rate: float, size: int) -> str:
    lines = [
        f"### Baselines at {rate:g} msg/s, {size}-byte messages (ms; median of runs)",
        "",
        "| baseline | p50 | p95 | p99 |",
        "|---|---:|---:|---:|",
    ]
    labels = [
        ("pika", "latency", "pika: just before publish (confirms on) → consumer has it"),
        ("pika", "confirm", "pika: publish → its confirm"),
        (
            "dramatiq",
            "latency",
            "Dramatiq: just before send() (confirms on) → trivial actor "
            "starts, 2 processes × 8 threads",
        ),
    ]
    for source, field, label in labels:
        if not base.get(source):
            continue
        cells = [fmt([pct(r[field], p) for r in base[source]]) for p in (50, 95, 99)]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def cpu_table(runs: dict[str, list[dict[str, Any]]]) -> str:
    keys = list(runs)
    names = list(dict.fromkeys(k for m in keys for r in runs[m] for k in r["cpu"]))
    lines = [
        "### CPU while posting (% of one core; median of runs)",
        "",
        "| process | " + " | ".join(keys) + " |",
        "|---|" + "---:|" * len(keys),
    ]
    for name in names:
        cells = [f"{med([r['cpu'].get(name, float('nan')) for r in runs[m]]):.0f}" for m in keys]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def throughput_table(tp: list[dict[str, Any]], drains: list[dict[str, Any]]) -> str:
    lines = [
        "### Sustained throughput, 2 workers × 8 threads (median of runs [each run])",
        "",
        "| measure | value |",
        "|---|---:|",
    ]
    if tp:
        per_order = tp[0]["deliveries"] / tp[0]["orders"]
        lines += [
            f"| orders POSTed per run (8 connections) | {tp[0]['orders']} |",
            "| API intake while the stack drains, orders/s | "
            f"{fmt([r['ingest_per_s'] for r in tp], 0)} |",
            "| **end-to-end orders/s** (first POST → every delivery applied or superseded) | "
            f"**{fmt([r['orders_per_s'] for r in tp], 0)}** |",
            f"| deliveries per order (ERP, WMS, CRM, channel) | {per_order:.2f} |",
            "| deliveries/s at the workers (ledger: first → last update) | "
            f"{fmt([r['deliveries_per_s'] for r in tp], 0)} |",
        ]
    if drains:
        lines.append(
            f"| **Dramatiq no-op drain**, 2 processes × 8 threads, msg/s "
            f"({drains[0]['messages']} messages) | **{fmt([d['rate'] for d in drains], 0)}** |"
        )
    if tp and drains:
        ratio = med([r["deliveries_per_s"] for r in tp]) / med([d["rate"] for d in drains])
        lines.append(f"| our deliveries/s ÷ no-op msg/s | {ratio:.1%} |")
    if tp:
        names = list(tp[0]["cpu_ms_per_order"])
        lines += [
            "",
            "CPU per order during the throughput runs (ms of one core; median):",
            "",
            "| process | ms/order |",
            "|---|---:|",
        ]
        for name in names:
            lines.append(f"| {name} | {med([r['cpu_ms_per_order'][name] for r in tp]):.1f} |")
    return "\n".join(lines) + "\n"


def profile_table(profile: dict[str, Any]) -> str:
    worker = profile.get("worker")
    if not worker:
        return "py-spy: no samples\n"
    lines = [
        f"### py-spy --gil on one worker during a throughput run "
        f"(GIL held {worker['gil_held_pct']:.0f}% of the time)",
        "",
        "| phase of a delivery | % of GIL samples |",
        "|---|---:|",
    ]
    lines += [f"| {k} | {v:.1f} |" for k, v in worker["phases"].items()]
    lines += ["", "| innermost library | % of GIL samples |", "|---|---:|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in worker["libraries"].items()]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------------


@contextlib.contextmanager
def terminate_on_sigterm() -> Iterator[None]:
    def handler(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def message_size(bench: Bench) -> int:
    """The size of an ERP order.accepted message as the relay builds it."""
    from outbox.messages import build
    from outbox.relay_queries import deliveries_with_events
    from outbox.tables import deliveries_table as d

    with bench.engine.connect() as conn:
        row = conn.execute(
            deliveries_with_events()
            .where(d.c.destination == "erp")
            .order_by(d.c.id.desc())
            .limit(1)
        ).first()
    return len(build(row).body) if row else 2000


def run(args: argparse.Namespace) -> dict[str, Any]:
    bench = Bench(args)
    skip = set(filter(None, args.skip.split(",")))
    out: dict[str, Any] = {"args": vars(args), "loadavg_at_start": os.getloadavg()}
    latency: dict[str, list[dict[str, Any]]] = {}
    base: dict[str, list[dict[str, Any]]] = {"pika": [], "dramatiq": []}
    tp: list[dict[str, Any]] = []
    drains: list[dict[str, Any]] = []
    alone: list[dict[str, float]] = []
    started = time.monotonic()
    failure = None
    rates = [args.rate] + ([args.low_rate] if args.low_rate else [])
    try:
        with terminate_on_sigterm():
            bench.setup()
            log("starting sim, api, relay, 2 workers")
            bench.start_stack()
            notify = False
            for r in range(args.repeats):
                # poll, notify, notify, poll…: one restart of the API and relay per switch
                for mode in ("poll", "notify") if r % 2 == 0 else ("notify", "poll"):
                    if "latency" not in skip:
                        if (mode == "notify") != notify:
                            bench.stop_writers()
                            notify = mode == "notify"
                            bench.start_writers(notify=notify, traced=True)
                            bench.warm_up(10)
                        for rate in rates:
                            key = f"{mode} @ {rate:g}/s"
                            log(f"latency run {r + 1}, {key}")
                            secs = args.seconds if rate == args.rate else args.low_seconds
                            res = latency_run(bench, mode, secs, rate, args.max_backlog)
                            latency.setdefault(key, []).append(res)
                            handler = spans(res["samples"], "commit", "handler")
                            log(
                                f"  {res['orders']} orders; commit → handler p50/p99 "
                                f"{pct(handler, 50):.1f}/{pct(handler, 99):.1f} ms"
                            )
                    if mode == "poll" and "baselines" not in skip:
                        if latency:
                            bench.msg_size = message_size(bench)
                            log(f"baselines run {r + 1}: the guard's statements alone")
                            alone.append(guard_alone(bench))
                        secs = min(args.seconds, args.baseline_seconds)
                        log(f"baselines run {r + 1}: pika, Dramatiq, {bench.msg_size} B, {secs:g}s")
                        base["pika"].append(
                            pika_round_trip(bench.name, secs, args.rate, bench.msg_size)
                        )
                        base["dramatiq"].append(
                            dramatiq_round_trip(bench, secs, args.rate, bench.msg_size)
                        )
            if "throughput" not in skip or args.profile:
                log("restarting api, relay, workers without the shim (poll mode)")
                bench.stop_writers()
                bench.stop_workers()
                bench.start_writers(notify=False, traced=False)
                bench.start_workers(traced=False)
                bench.warm_up(20)
            if "throughput" not in skip:
                for r in range(args.repeats):
                    log(f"throughput run {r + 1}: {args.orders} orders")
                    tp.append(throughput_run(bench, args.orders))
                    log(
                        f"  {tp[-1]['orders_per_s']:.0f} orders/s, "
                        f"{tp[-1]['deliveries_per_s']:.0f} deliveries/s"
                    )
                    log(f"no-op drain run {r + 1}: {args.drain_messages} messages")
                    drains.append(noop_drain(bench, args.drain_messages))
                    log(f"  {drains[-1]['rate']:.0f} msg/s")
            if args.profile:
                log(f"profiled throughput run (py-spy --gil on a worker) → {args.profile}")
                out["profile"] = profile_run(bench, Path(args.profile), max(args.orders, 400))
    except Exception as error:  # report what was measured before the failure
        failure = f"{type(error).__name__}: {error}"
        log(f"FAILED: {failure}")
        for proc in [*bench.procs.values(), *bench.extra]:
            if proc.popen.poll() is not None:
                log(f"{proc.name} exited {proc.popen.returncode}:\n{proc.tail()}")
    finally:
        bench.teardown()
    elapsed = time.monotonic() - started

    print()
    print(
        f"# bench.actors — {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores "
        f"(load average at start {out['loadavg_at_start'][0]:.1f}), {args.repeats} runs of "
        f"each, interleaved; {elapsed:.0f}s"
    )
    print()
    if latency:
        print(latency_table(latency))
        print(stages_table(latency))
        print(guard_table(latency, alone))
        print(runs_table(latency))
        print(cpu_table(latency))
    if base["pika"] or base["dramatiq"]:
        print(baseline_table(base, args.rate, bench.msg_size))
    if tp or drains:
        print(throughput_table(tp, drains))
        for i, t in enumerate(tp, 1):
            print(
                f"- throughput run {i}: {t['deliveries']} deliveries in {t['seconds']:.1f}s, "
                f"ledger {t['statuses']}"
            )
        print()
    if "profile" in out:
        print(profile_table(out["profile"]))
        out["profile"].pop("run", None)
    out.update(
        latency={
            k: [{f: v for f, v in r.items() if f != "samples"} for r in rs]
            for k, rs in latency.items()
        },
        spans={
            k: {
                label: {
                    f"p{p}": med([pct(spans(r["samples"], a, b), p) for r in rs])
                    for p in (50, 95, 99)
                }
                for label, a, b in [*END_TO_END, *STAGES]
            }
            for k, rs in latency.items()
        },
        baselines={
            k: [{f"p{p}": pct(r["latency"], p) for p in (50, 95, 99)} for r in v]
            for k, v in base.items()
        },
        throughput=tp,
        drains=drains,
        guard_alone=alone,
        elapsed_s=elapsed,
        failure=failure,
    )
    if failure:
        print(f"\n**The run failed before it finished:** {failure}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.actors", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--rate", type=float, default=100, help="orders/s of the latency runs")
    parser.add_argument(
        "--low-rate",
        type=float,
        default=10,
        help="a second latency rate the stack can sustain (0: none)",
    )
    parser.add_argument("--seconds", type=float, default=15, help="length of each latency run")
    parser.add_argument(
        "--low-seconds", type=float, default=10, help="length of each --low-rate run"
    )
    parser.add_argument(
        "--max-backlog",
        type=int,
        default=600,
        help="stop posting when more deliveries than this are unsettled (the stack lags)",
    )
    parser.add_argument("--baseline-seconds", type=float, default=8)
    parser.add_argument("--orders", type=int, default=300, help="orders per throughput run")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--drain-messages", type=int, default=20_000)
    parser.add_argument("--skus", type=int, default=50, help="SKUs the orders draw 2 lines from")
    parser.add_argument("--skip", default="", help="comma-separated: latency,baselines,throughput")
    parser.add_argument("--profile", help="directory: one more throughput run under py-spy")
    parser.add_argument("--json", help="also write the results (no samples) to this file")
    parser.add_argument("--keep-logs", action="store_true")
    parser.add_argument(
        "--switch-interval",
        type=float,
        help="experiment: sys.setswitchinterval() in every process started (default 0.005)",
    )
    args = parser.parse_args()
    out = run(args)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2, default=str))
    if out["failure"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
