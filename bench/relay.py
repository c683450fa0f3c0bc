"""Relay benchmark: outbox rows published per second beside pika's raw rate, and
commit → on-queue latency with NOTIFY wake-ups vs adaptive polling.

    .venv/bin/python -m bench.relay [--rows N] [--repeats R] [--latency-seconds S]
                                    [--idle-seconds S] [--sparse-seconds S]
                                    [--commit-seconds S] [--skip throughput,latency,commit]
                                    [--profile DIR] [--json FILE] [--keep-logs]

What one run does:

* creates a scratch database ``ordersync_bench_relay_<random>`` (migrated with
  adapters.db.migrate.upgrade) and a RabbitMQ vhost of the same name
  (``rabbitmqctl add_vhost`` / ``set_permissions``); drops both at the end, also
  on failure or SIGTERM;
* **throughput** — for each repeat, interleaved and rotated: *raw* (pika
  SelectConnection in this process, asynchronous confirms with a sliding window
  of 1,000 in flight, mandatory, persistent, to the same durable queues, real
  message bodies built by outbox.messages.build from the claimed rows), *relay×1*
  and *relay×2* (``ordersync relay`` subprocesses on N fresh rows written with
  tests.outbox_rows.write_orders). The relays start while the bench holds every
  unpublished row FOR UPDATE (their SKIP LOCKED claims find nothing); once the
  relays hold their fair share of the partition leases the bench releases the
  rows and the clock starts; it stops when no row is unpublished (polled every
  20 ms). So start-up and lease rebalancing are excluded, and both relays start
  together. Queues are purged between runs; the queues must then hold exactly N
  messages. One unmeasured raw publish of 5,000 warms the fresh queues first.
  The relay subprocesses run `ops.cli` from this source tree (PYTHONPATH), so
  a snapshot of the repository (git archive) benchmarks that snapshot;
* the relay's stages in-process (one thread, batches of 1,000 like the relay):
  claim SELECT, build, mark UPDATE, µs per row;
* **latency** — one relay, idle first (its CPU% and its PostgreSQL backends' CPU%
  from /proc over --idle-seconds), then a writer commits one event (one order
  aggregate → the wms queue) every 10 ms through outbox.writer.write_events, its
  commit time recorded; a consumer process (pika BlockingConnection,
  basic_consume on ``wms``) timestamps arrivals; commit → on-queue p50/p95/p99.
  Then sparse traffic (one commit every 0.25-0.75 s for --sparse-seconds): the
  relay has backed off between commits. Modes: *notify*
  (ORDERSYNC_OUTBOX_NOTIFY=true, writer notify=True, idle poll max 1 s as the
  safety net) and *poll* (notify off, adaptive polling backing off to
  ORDERSYNC_RELAY_IDLE_POLL_MAX_S=0.05). Relay cycles/s ≈ the scratch database's
  transactions (pg_stat_database) minus the writer's;
* **commit cost** — the writer's statement for one event (captured from
  write_events) replayed with plain psycopg on 8 connections as fast as they go
  for --commit-seconds, with and without the pg_notify write_events adds, a relay
  in the matching mode draining: commits/s and commit p50/p99;
* with --profile DIR: one more relay×1 throughput run under py-spy (``--gil``:
  where the relay's CPU goes, and ``--idle --threads``: wall time per thread),
  classified into claim / build / publish / confirms / mark / commit; and one
  latency run (polling) with ``--gil`` during the 100 rows/s phase.

Every configuration runs --repeats times (default 2), interleaved; tables show
medians with each run in brackets. Figures are only comparable within one run
(the machine's other load moves them by ±20-30%): the ratio is the result.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import math
import multiprocessing
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pika
import psycopg
from pika.spec import Basic
from psycopg import sql

from bench.common import SERVER, LoggedProcess, amqp_url, med, pct, raw_dsn, sa_url

ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
BENCH_APP = "ordersync-bench"
WINDOW = 1000  # raw baseline: messages in flight
POLL_MAX_S = 0.05  # adaptive polling: the setting's default
NOTIFY_SAFETY_POLL_S = 1.0  # with NOTIFY, the idle poll is only a safety net


# ----------------------------------------------------------------------------
# Scratch database and vhost
# ----------------------------------------------------------------------------


def admin_conn() -> psycopg.Connection[Any]:
    return psycopg.connect(f"{SERVER}/postgres", autocommit=True, application_name=BENCH_APP)


def create_db(name: str) -> None:
    with admin_conn() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_db(name: str) -> None:
    with admin_conn() as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=120)


def create_vhost(name: str) -> None:
    rabbitmqctl("add_vhost", name)
    rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")


def drop_vhost(name: str) -> None:
    rabbitmqctl("delete_vhost", name)


def db_conn(db: str, *, autocommit: bool = True) -> psycopg.Connection[Any]:
    return psycopg.connect(raw_dsn(db), autocommit=autocommit, application_name=BENCH_APP)


# ----------------------------------------------------------------------------
# CPU from /proc
# ----------------------------------------------------------------------------


def cpu_ticks(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime


def broker_pid() -> int | None:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "beam.smp":
                    return int(entry.name)
            except OSError:
                continue
    return None


def backend_pids(db: str) -> list[int]:
    """PostgreSQL backends of the scratch database that are not the bench's own."""
    with db_conn(db) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND backend_type = 'client backend' AND application_name <> %s",
            [BENCH_APP],
        ).fetchall()
    return [r[0] for r in rows]


class CpuMeter:
    """CPU seconds of process groups between start() and stop() (pids given as callables)."""

    def __init__(self, groups: dict[str, Callable[[], list[int]]]) -> None:
        self.groups = groups
        self.start_ticks: dict[str, dict[int, int]] = {}
        self.seconds: dict[str, float] = {}
        self.elapsed = 0.0

    def start(self) -> None:
        self.t0 = time.monotonic()
        self.start_ticks = {g: {p: cpu_ticks(p) for p in f()} for g, f in self.groups.items()}

    def stop(self) -> dict[str, float]:
        self.elapsed = time.monotonic() - self.t0
        for g, f in self.groups.items():
            before = self.start_ticks[g]
            ticks = 0
            for p in set(f()) | set(before):
                now = cpu_ticks(p)
                if now:
                    ticks += now - before.get(p, 0)
            self.seconds[g] = ticks / CLK_TCK
        return self.seconds

    def percent(self) -> dict[str, float]:
        return {g: 100 * s / max(self.elapsed, 1e-9) for g, s in self.seconds.items()}


# ----------------------------------------------------------------------------
# RabbitMQ helpers
# ----------------------------------------------------------------------------


def all_declarations() -> list[tuple[str, dict[str, object]]]:
    from ops.wiring import QUEUES
    from outbox.queues import declarations

    return [d for q in QUEUES for d in declarations(q)]


def purge_queues(vhost: str) -> dict[str, int]:
    """Declare (same arguments as the relay) and purge every queue; returns what was purged."""
    conn = pika.BlockingConnection(pika.URLParameters(amqp_url(vhost)))
    try:
        ch = conn.channel()
        purged = {}
        for name, arguments in all_declarations():
            ch.queue_declare(queue=name, durable=True, arguments=arguments)
            purged[name] = ch.queue_purge(name).method.message_count
        return purged
    finally:
        conn.close()


def queue_depths(vhost: str, names: list[str]) -> dict[str, int]:
    conn = pika.BlockingConnection(pika.URLParameters(amqp_url(vhost)))
    try:
        ch = conn.channel()
        return {n: ch.queue_declare(queue=n, passive=True).method.message_count for n in names}
    finally:
        conn.close()


def raw_publish(vhost: str, messages: list[tuple[str, str, bytes]], n: int) -> dict[str, Any]:
    """pika SelectConnection, asynchronous confirms, ≤WINDOW in flight: n messages
    (cycling through `messages`), mandatory and persistent. Timed from the first
    publish to the last confirm."""
    params = pika.URLParameters(amqp_url(vhost))
    state: dict[str, Any] = {"sent": 0, "confirmed": 0, "nacked": 0, "returned": 0}
    settled = bytearray(n + 2)
    low = [1]  # smallest unsettled delivery tag
    channel: list[Any] = []
    props = [pika.BasicProperties(delivery_mode=2, message_id=mid) for _, mid, _ in messages]

    def pump() -> None:
        ch = channel[0]
        m = len(messages)
        while state["sent"] < n and state["sent"] - state["confirmed"] < WINDOW:
            i = state["sent"] % m
            queue, _, body = messages[i]
            # a fresh BasicProperties per message, as the relay does
            ch.basic_publish(
                exchange="",
                routing_key=queue,
                body=body,
                properties=pika.BasicProperties(delivery_mode=2, message_id=props[i].message_id),
                mandatory=True,
            )
            state["sent"] += 1

    def settle(tag: int) -> None:
        if not settled[tag]:
            settled[tag] = 1
            state["confirmed"] += 1

    def on_confirm(frame: Any) -> None:
        method = frame.method
        if isinstance(method, Basic.Nack):
            state["nacked"] += 1
        if method.multiple:
            for tag in range(low[0], method.delivery_tag + 1):
                settle(tag)
        else:
            settle(method.delivery_tag)
        while low[0] <= n and settled[low[0]]:
            low[0] += 1
        if state["confirmed"] >= n:
            state["t1"] = time.perf_counter()
            state["cpu1"] = os.times()
            conn.close()
        else:
            pump()

    def on_return(_ch: Any, _method: Any, _props: Any, _body: bytes) -> None:
        state["returned"] += 1

    def declare(pending: list[tuple[str, dict[str, object]]]) -> None:
        if not pending:
            state["t0"] = time.perf_counter()
            state["cpu0"] = os.times()
            pump()
            return
        name, arguments = pending[0]
        channel[0].queue_declare(
            queue=name, durable=True, arguments=arguments, callback=lambda _f: declare(pending[1:])
        )

    def on_channel(ch: Any) -> None:
        channel.append(ch)
        ch.add_on_return_callback(on_return)
        ch.confirm_delivery(on_confirm, callback=lambda _f: declare(all_declarations()))

    def on_open_error(c: Any, err: Any) -> None:
        state["error"] = repr(err)
        c.ioloop.stop()

    conn = pika.SelectConnection(
        params,
        on_open_callback=lambda c: c.channel(on_open_callback=on_channel),
        on_open_error_callback=on_open_error,
        on_close_callback=lambda c, _r: c.ioloop.stop(),
    )
    conn.ioloop.start()
    if "error" in state or "t1" not in state:
        raise RuntimeError(f"raw publish failed: {state}")
    elapsed = state["t1"] - state["t0"]
    cpu = (state["cpu1"].user - state["cpu0"].user) + (state["cpu1"].system - state["cpu0"].system)
    return {
        "rate": n / elapsed,
        "seconds": elapsed,
        "nacked": state["nacked"],
        "returned": state["returned"],
        "client_cpu_s": cpu,
    }


def consume(vhost: str, queue: str, pipe: Any) -> None:
    """A consumer process: timestamp each arrival on `queue` until told to stop."""
    conn = pika.BlockingConnection(pika.URLParameters(amqp_url(vhost)))
    ch = conn.channel()
    ch.basic_qos(prefetch_count=100)
    arrivals: list[tuple[float, bytes]] = []

    def on_message(_ch: Any, _method: Any, _props: Any, body: bytes) -> None:
        arrivals.append((time.time(), body))

    ch.basic_consume(queue=queue, on_message_callback=on_message, auto_ack=True)
    pipe.send("ready")
    while not pipe.poll():
        conn.process_data_events(time_limit=0.05)
    conn.process_data_events(time_limit=0)
    conn.close()
    out = []
    for t, body in arrivals:
        with contextlib.suppress(Exception):
            out.append((json.loads(body)["args"][0]["aggregate_id"], t))
    pipe.send(out)


# ----------------------------------------------------------------------------
# Relay processes
# ----------------------------------------------------------------------------


def ordersync_command() -> list[str]:
    """`ordersync` from the same source tree as this bench (PYTHONPATH=ROOT below), not
    whatever the installed console script points at."""
    return [sys.executable, "-c", "from ops.cli import main; main()"]


class RelayProcess(LoggedProcess):
    def __init__(
        self,
        db: str,
        vhost: str,
        log_dir: Path,
        name: str,
        *,
        notify: bool,
        poll_max: float,
        batch_size: int | None = None,
    ) -> None:
        batch_args = ["--batch-size", str(batch_size)] if batch_size else []
        env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERSYNC_")}
        env.update(
            ORDERSYNC_DATABASE_URL=sa_url(db),
            ORDERSYNC_BROKER_URL=amqp_url(vhost),
            ORDERSYNC_OUTBOX_NOTIFY="true" if notify else "false",
            ORDERSYNC_RELAY_IDLE_POLL_MAX_S=str(poll_max),
            PYTHONUNBUFFERED="1",
            PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        )
        command = [*ordersync_command(), "relay", "--name", name, *batch_args]
        super().__init__(name, command, env, log_dir / f"{name}.log", ROOT)


@contextlib.contextmanager
def relays(
    ctx: Context, count: int, *, notify: bool, poll_max: float
) -> Iterator[list[RelayProcess]]:
    procs: list[RelayProcess] = []
    try:
        for i in range(count):
            ctx.seq += 1
            procs.append(
                RelayProcess(
                    ctx.db,
                    ctx.vhost,
                    ctx.log_dir,
                    f"bench-relay-{ctx.seq}-{i}",
                    notify=notify,
                    poll_max=poll_max,
                    batch_size=ctx.args.batch_size,
                )
            )
        wait_leases(ctx.db, procs)
        yield procs
    finally:
        for p in procs:
            p.stop()


def wait_leases(db: str, procs: list[RelayProcess], timeout: float = 60.0) -> None:
    """Until every relay holds its fair share of the 64 partitions."""
    from outbox.leases import HOLDERS
    from outbox.partition import PARTITIONS

    share = math.ceil(PARTITIONS / len(procs))
    names = {p.name for p in procs}
    deadline = time.monotonic() + timeout
    with db_conn(db) as conn:
        while time.monotonic() < deadline:
            for p in procs:
                p.check()
            held = {r[0]: len(r[2]) for r in conn.execute(HOLDERS).fetchall() if r[0] in names}
            if (
                len(held) == len(procs)
                and sum(held.values()) == PARTITIONS
                and max(held.values()) <= share
            ):
                return
            time.sleep(0.05)
    raise RuntimeError(
        f"relays did not take their leases within {timeout:g}s:\n"
        + "\n".join(p.tail() for p in procs)
    )


# ----------------------------------------------------------------------------
# The run's context and the outbox rows
# ----------------------------------------------------------------------------


class Context:
    def __init__(self, db: str, vhost: str, log_dir: Path, args: argparse.Namespace) -> None:
        import sqlalchemy as sa  # noqa: F401

        from adapters.db.engine import make_engine

        self.db = db
        self.vhost = vhost
        self.log_dir = log_dir
        self.args = args
        self.seq = 0
        self.engine = make_engine(sa_url(db), pool_size=8)
        self.broker = broker_pid()

    def reset_outbox(self) -> None:
        with db_conn(self.db) as conn:
            conn.execute("TRUNCATE outbox_deliveries, outbox_events, outbox_sequences")
            # statistics fresh: no autovacuum analyze wakes up in the middle of a window
            conn.execute("ANALYZE outbox_deliveries, outbox_events, outbox_sequences")
        purge_queues(self.vhost)

    def fill(self, rows: int) -> int:
        from tests.outbox_rows import write_orders

        write_orders(self.engine, max(1, rows // 3), 2, prefix=f"t{self.seq}")
        with db_conn(self.db) as conn:
            conn.execute("ANALYZE outbox_deliveries")
            conn.execute("ANALYZE outbox_events")
            return self.unpublished(conn)

    def unpublished(self, conn: psycopg.Connection[Any]) -> int:
        row = conn.execute(
            "SELECT count(*) FROM outbox_deliveries WHERE published_at IS NULL"
        ).fetchone()
        return int(row[0]) if row else 0


# ----------------------------------------------------------------------------
# Throughput
# ----------------------------------------------------------------------------


def stage_costs(ctx: Context, batches: int = 5) -> tuple[dict[str, float], list[Any]]:
    """The relay's DB and build stages in this process, batches of 1,000 (rolled back)."""
    from outbox.messages import build
    from outbox.partition import PARTITIONS
    from outbox.relay_queries import claim as _claim
    from outbox.relay_queries import mark_published as _mark_published

    times: dict[str, list[float]] = collections.defaultdict(list)
    messages: list[Any] = []
    for _ in range(batches):
        with ctx.engine.connect() as conn:
            tx = conn.begin()
            t = time.perf_counter()
            rows = _claim(conn, list(range(PARTITIONS)), 1000)
            times["claim SELECT … FOR UPDATE SKIP LOCKED (psycopg named tuples)"].append(
                time.perf_counter() - t
            )
            t = time.perf_counter()
            messages = [build(r) for r in rows]
            times["build (envelope dict, isoformat, json.dumps, payload spliced)"].append(
                time.perf_counter() - t
            )
            t = time.perf_counter()
            _mark_published(conn, [m.delivery_id for m in messages])
            times["mark UPDATE … WHERE id = ANY(1,000 ids)"].append(time.perf_counter() - t)
            tx.rollback()
    n = max(len(messages), 1)
    return {k: med(v) / n * 1e6 for k, v in times.items()}, messages


def run_raw(ctx: Context, messages: list[tuple[str, str, bytes]], n: int) -> dict[str, Any]:
    purge_queues(ctx.vhost)
    broker0 = cpu_ticks(ctx.broker) if ctx.broker else 0
    result = raw_publish(ctx.vhost, messages, n)
    broker_s = ((cpu_ticks(ctx.broker) - broker0) / CLK_TCK) if ctx.broker else float("nan")
    depth = sum(queue_depths(ctx.vhost, ["wms", "channels"]).values())
    result.update(
        n=n,
        on_queues=depth,
        cpu_us={"client": result["client_cpu_s"] / n * 1e6, "broker": broker_s / n * 1e6},
    )
    return result


def run_relays(ctx: Context, count: int, *, profile: Path | None = None) -> dict[str, Any]:
    ctx.reset_outbox()
    n = ctx.fill(ctx.args.rows)
    lock = db_conn(ctx.db, autocommit=False)
    try:
        # Hold every row: the relays start, join and rebalance, and find nothing.
        lock.execute(
            "SELECT id FROM outbox_deliveries WHERE published_at IS NULL FOR UPDATE"
        ).fetchall()
        with relays(ctx, count, notify=False, poll_max=POLL_MAX_S) as procs:
            pids = [p.pid for p in procs]
            meter = CpuMeter(
                {
                    "relay": lambda: pids,
                    "postgres": lambda: backend_pids(ctx.db),
                    "broker": lambda: [ctx.broker] if ctx.broker else [],
                }
            )
            spies = start_profilers(profile, pids[0]) if profile else []
            meter.start()
            with db_conn(ctx.db) as watch:
                t0 = time.perf_counter()
                lock.rollback()  # the clock starts: the rows are free
                while ctx.unpublished(watch):
                    for p in procs:
                        p.check()
                    if time.perf_counter() - t0 > 600:
                        raise RuntimeError("relays did not drain the outbox in 10 minutes")
                    time.sleep(0.02)
                elapsed = time.perf_counter() - t0
            meter.stop()
            stop_profilers(spies)
    finally:
        lock.close()
    depth = sum(queue_depths(ctx.vhost, ["wms", "channels"]).values())
    return {
        "n": n,
        "rate": n / elapsed,
        "seconds": elapsed,
        "on_queues": depth,
        "cpu_us": {g: s / n * 1e6 for g, s in meter.seconds.items()},
        "cpu_pct": meter.percent(),
    }


# ----------------------------------------------------------------------------
# Latency and idle CPU
# ----------------------------------------------------------------------------


def xacts(db: str) -> int:
    """Transactions of the scratch database so far (pg_stat_database; flushed ≤1 s late)."""
    with db_conn(db) as conn:
        row = conn.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database"
            " WHERE datname = current_database()"
        ).fetchone()
    return int(row[0]) if row else 0


def run_latency(
    ctx: Context, mode: str, tag: str, *, profile: Path | None = None
) -> dict[str, Any]:
    from ops.wiring import ROUTING
    from outbox.writer import write_events
    from tests.outbox_rows import TRACE, order_events

    notify = mode == "notify"
    poll_max = NOTIFY_SAFETY_POLL_S if notify else POLL_MAX_S
    rate = ctx.args.rate
    warm = int(rate)  # the first second is not counted
    total = warm + int(rate * ctx.args.latency_seconds)
    events = [order_events(f"lat-{tag}-{i}", 1)[0] for i in range(total)]
    sparse_n = int(ctx.args.sparse_seconds / 0.5)
    sparse = [order_events(f"sp-{tag}-{i}", 1)[0] for i in range(sparse_n)]
    rng = random.Random(tag)
    ctx.reset_outbox()
    commits: dict[str, float] = {}

    def commit(event: Any) -> float:
        t_begin = time.time()
        with ctx.engine.begin() as conn:
            write_events(conn, [event], TRACE, lambda: ["web"], routing=ROUTING, notify=notify)
        t_commit = time.time()
        commits[event.aggregate_id] = t_commit
        return (t_commit - t_begin) * 1000

    def drain(relay: RelayProcess) -> None:
        with db_conn(ctx.db) as watch:
            deadline = time.monotonic() + 30
            while ctx.unpublished(watch) and time.monotonic() < deadline:
                relay.check()
                time.sleep(0.05)

    mp = multiprocessing.get_context("spawn")
    parent, child = mp.Pipe()
    consumer = mp.Process(target=consume, args=(ctx.vhost, "wms", child), daemon=True)
    consumer.start()
    try:
        if not parent.poll(30) or parent.recv() != "ready":
            raise RuntimeError("the consumer did not start")
        with relays(ctx, 1, notify=notify, poll_max=poll_max) as procs:
            relay = procs[0]

            def meter() -> CpuMeter:
                return CpuMeter(
                    {"relay": lambda: [relay.pid], "postgres": lambda: backend_pids(ctx.db)}
                )

            time.sleep(2.0)  # settle: idle backoff reached, start-up stats flushed
            idle = meter()
            x0 = xacts(ctx.db)
            idle.start()
            time.sleep(ctx.args.idle_seconds)
            idle.stop()
            idle_cycles = (xacts(ctx.db) - x0) / idle.elapsed

            commit_ms: list[float] = []
            lag_ms: list[float] = []
            spies = start_profilers(profile, relay.pid, ("gil",), "relay-100rps") if profile else []
            busy = meter()
            x0 = xacts(ctx.db)
            busy.start()
            t0 = time.perf_counter() + 0.05
            for i, event in enumerate(events):
                delay = t0 + i / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                else:
                    lag_ms.append(-delay * 1000)
                ms = commit(event)
                if i >= warm:
                    commit_ms.append(ms)
            busy.stop()
            busy_cycles = (xacts(ctx.db) - x0 - len(events)) / busy.elapsed
            stop_profilers(spies)
            drain(relay)

            # Sparse traffic: one commit every 0.25-0.75 s, the relay backed off in between.
            time.sleep(1.0)
            for event in sparse:
                time.sleep(rng.uniform(0.25, 0.75))
                commit(event)
            drain(relay)
            time.sleep(0.5)
        parent.send("stop")
        arrivals = parent.recv() if parent.poll(30) else []
    finally:
        consumer.join(10)
        if consumer.is_alive():
            consumer.kill()

    def lat(group: list[Any]) -> list[float]:
        wanted = {e.aggregate_id for e in group}
        return [(t - commits[a]) * 1000 for a, t in arrivals if a in wanted and a in commits]

    latencies = lat(events[warm:])
    sparse_lat = lat(sparse)
    seen = {agg for agg, _ in arrivals}
    expected = {e.aggregate_id for e in events + sparse}
    return {
        "mode": mode,
        "poll_max_s": poll_max,
        "samples": len(latencies),
        "missing": len(expected - seen),
        "duplicates": len(arrivals) - len(seen),
        "p50": pct(latencies, 50),
        "p95": pct(latencies, 95),
        "p99": pct(latencies, 99),
        "max": max(latencies) if latencies else float("nan"),
        "sparse": sparse_lat,
        "sparse_p50": pct(sparse_lat, 50),
        "sparse_max": max(sparse_lat) if sparse_lat else float("nan"),
        "commit_p50": pct(commit_ms, 50),
        "commit_p99": pct(commit_ms, 99),
        "writer_late_ms_max": max(lag_ms) if lag_ms else 0.0,
        "idle_cpu_pct": idle.percent(),
        "busy_cpu_pct": busy.percent(),
        "idle_cycles_per_s": idle_cycles,
        "busy_cycles_per_s": busy_cycles,
    }


class _CaptureConn:
    """Stands in for a SQLAlchemy connection: records what write_events sends."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def exec_driver_sql(self, statement: str, params: tuple[Any, ...] = ()) -> None:
        self.calls.append((statement, params))


COMMIT_THREADS = 8


def run_commit_cost(ctx: Context, mode: str, tag: str) -> dict[str, Any]:
    """The writer's own statements (captured from write_events, one event per commit)
    replayed with plain psycopg on COMMIT_THREADS connections as fast as they go, with
    or without its pg_notify; a relay in the matching mode drains meanwhile."""
    from ops.wiring import ROUTING
    from outbox.writer import write_events
    from tests.outbox_rows import TRACE, order_events

    notify = mode == "notify"
    template = order_events("cc-TEMPLATE-AGG", 1)[0]
    capture = _CaptureConn()
    write_events(capture, [template], TRACE, lambda: ["web"], routing=ROUTING, notify=True)  # type: ignore[arg-type]
    (write_sql, write_params), notify_call = capture.calls[0], capture.calls[1]
    template_id = json.loads(write_params[0])[0]["event_id"]
    ctx.reset_outbox()
    seconds = ctx.args.commit_seconds
    counts = [0] * COMMIT_THREADS
    durations: list[list[float]] = [[] for _ in range(COMMIT_THREADS)]
    start = threading.Event()
    stop_at = [0.0]
    conns = [db_conn(ctx.db, autocommit=False) for _ in range(COMMIT_THREADS)]

    def writer(k: int) -> None:
        conn = conns[k]
        start.wait()
        i = 0
        while time.perf_counter() < stop_at[0]:
            event_id, aggregate = str(uuid.uuid4()), f"cc-{tag}-{k}-{i}"
            params = tuple(
                p.replace(template_id, event_id).replace("cc-TEMPLATE-AGG", aggregate)
                for p in write_params
            )
            t = time.perf_counter()
            conn.execute(write_sql, params)
            if notify:
                conn.execute(notify_call[0], notify_call[1])
            conn.commit()
            durations[k].append((time.perf_counter() - t) * 1000)
            counts[k] += 1
            i += 1

    poll_max = NOTIFY_SAFETY_POLL_S if notify else POLL_MAX_S
    try:
        with relays(ctx, 1, notify=notify, poll_max=poll_max):
            workers = [threading.Thread(target=writer, args=(k,)) for k in range(COMMIT_THREADS)]
            for w in workers:
                w.start()
            t0 = time.perf_counter()
            stop_at[0] = t0 + seconds
            start.set()
            for w in workers:
                w.join()
            elapsed = time.perf_counter() - t0
    finally:
        for c in conns:
            c.close()
    all_ms = [d for ds in durations for d in ds]
    return {
        "mode": mode,
        "rate": sum(counts) / elapsed,
        "p50": pct(all_ms, 50),
        "p99": pct(all_ms, 99),
    }


# ----------------------------------------------------------------------------
# py-spy
# ----------------------------------------------------------------------------


def py_spy() -> str | None:
    candidate = Path(sys.executable).parent / "py-spy"
    return str(candidate) if candidate.exists() else shutil.which("py-spy")


SPY_MODES = {"gil": ["--gil"], "wall": ["--idle", "--threads"]}


def start_profilers(
    out: Path | None, pid: int, modes: tuple[str, ...] = tuple(SPY_MODES), prefix: str = "relay"
) -> list[tuple[subprocess.Popen[bytes], Path]]:
    spy = py_spy()
    if out is None or spy is None:
        return []
    out.mkdir(parents=True, exist_ok=True)
    procs = []
    for label in modes:
        path = out / f"{prefix}-{label}.txt"
        proc = subprocess.Popen(
            [
                spy,
                "record",
                "--pid",
                str(pid),
                "--rate",
                "200",
                "--format",
                "raw",
                "--nonblocking",
                "-o",
                str(path),
                *SPY_MODES[label],
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        procs.append((proc, path))
    time.sleep(1.0)  # py-spy attaches
    return procs


def stop_profilers(procs: list[tuple[subprocess.Popen[bytes], Path]]) -> None:
    for proc, _ in procs:
        proc.send_signal(signal.SIGINT)
    for proc, path in procs:
        try:
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            err = b""
        if not path.exists():
            print(f"py-spy failed: {err.decode(errors='replace')[-400:]}")


def load_raw_profile(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    return stacks


def relay_sites() -> dict[int, str]:
    """Line numbers of the statements of Relay.run_once, by what they do."""
    sites = {}
    lines = (ROOT / "outbox" / "relay.py").read_text().splitlines()
    for no, text in enumerate(lines, 1):
        if "conn.execute(_claim(" in text:
            sites[no] = "claim: SELECT … FOR UPDATE SKIP LOCKED + row fetch"
        elif "build(row)" in text:
            sites[no] = "build: row → JSON message (messages.build)"
        elif "self.publisher.publish(" in text:
            sites[no] = "publish(): hand-off + waiting for the batch's confirms"
        elif "conn.execute(_MARK_PUBLISHED" in text:
            sites[no] = "mark: UPDATE published_at (1,000 ids)"
        elif "with self.engine.connect() as conn, conn.begin()" in text:
            sites[no] = "connection checkout, BEGIN, COMMIT"
        elif "self.partitions()" in text or "self.publisher.connect(" in text:
            sites[no] = "leases rebalance / connect"
    return sites


def classify(frames: list[str], sites: dict[int, str]) -> tuple[str, str]:
    """(thread kind, category) of one py-spy stack."""
    joined = ";".join(frames)
    if "run_once (outbox/relay.py" in joined:
        for f in frames:
            if f.startswith("Relay.run_once (outbox/relay.py:") or f.startswith(
                "run_once (outbox/relay.py:"
            ):
                line = int(f.rsplit(":", 1)[1].rstrip(")"))
                return "relay thread", sites.get(line, f"run_once line {line}")
    if "_run (outbox/rabbitmq_publisher.py" in joined or "ioloop" in joined.lower():
        for f in reversed(frames):
            if "_send (outbox/rabbitmq_publisher.py" in f:
                if "basic_publish" in joined:
                    return "pika thread", "pika basic_publish (frame marshal + write buffer)"
                return "pika thread", "_send bookkeeping"
            if "_on_confirm (outbox/rabbitmq_publisher.py" in f:
                return "pika thread", "confirm handling (_on_confirm, settle)"
        if any(x in joined for x in ("poll (selectors", "_poll", ".poll (", "select (")):
            if not any(x in frames[-1] for x in ("_on_data", "_handle_read", "_on_socket")):
                leaf = frames[-1]
                if "poll" in leaf or "select" in leaf:
                    return "pika thread", "idle in poll()"
        if "_handle_write" in joined or "_on_writable" in joined or "sendall" in joined:
            return "pika thread", "socket write"
        return "pika thread", "frame read/decode, dispatch, ioloop"
    if "Relay.run (outbox/relay.py" in joined or "run (outbox/relay.py" in joined:
        if "wait" in frames[-1] or "notifies" in joined:
            return "relay thread", "idle wait between cycles"
        return "relay thread", "run loop (other)"
    # --nonblocking samples sometimes catch a partial stack (no root frame)
    lib = frames[-1][frames[-1].rfind("(") + 1 :].split("/")[0] if frames else "?"
    return "partial stacks (root not captured)", f"leaf in {lib}"


def summarize_spy(path: Path, *, wall: bool = False) -> dict[str, dict[str, float]]:
    sites = relay_sites()
    stacks = load_raw_profile(path)
    by: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    leaf: collections.Counter[str] = collections.Counter()
    total = sum(c for _, c in stacks) or 1
    for frames, count in stacks:
        if frames and frames[0].startswith(("thread (", "process ")):
            frames = [f for f in frames if not f.startswith(("thread (", "process "))]
        kind, cat = classify(frames, sites)
        by[kind][cat] += count
        if frames:
            leaf[frames[-1]] += count
    out: dict[str, dict[str, float]] = {}
    if wall:
        # Before the rows are released and after the drain, the relay only idles: the
        # run is the relay thread's non-idle samples, and every thread is a share of it.
        by["relay thread"].pop("idle wait between cycles", None)
        by["pika thread"].pop("idle in poll()", None)
        run = sum(by["relay thread"].values()) or 1
        for kind, counter in by.items():
            out[kind] = {k: v / run for k, v in counter.most_common()}
            out[kind]["_share_of_samples"] = sum(counter.values()) / run
    else:
        for kind, counter in by.items():
            n = sum(counter.values()) or 1
            out[kind] = {k: v / n for k, v in counter.most_common()}
            out[kind]["_share_of_samples"] = n / total
    out["_top_leaves"] = {k: v / total for k, v in leaf.most_common(12)}
    out["_samples"] = {"n": float(total)}
    return out


def subcategories(path: Path, needle: str) -> dict[str, float]:
    """Within stacks containing `needle`: share by library of the leaf-most frame."""
    stacks = [(f, c) for f, c in load_raw_profile(path) if any(needle in x for x in f)]
    total = sum(c for _, c in stacks) or 1
    libs: collections.Counter[str] = collections.Counter()
    for frames, count in stacks:
        f = frames[-1]
        inner = f[f.rfind("(") + 1 :].rsplit(":", 1)[0]
        libs[inner.split("/")[0]] += count
    return {k: v / total for k, v in libs.most_common(8)}


# ----------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------


def print_spy(path: Path, label: str) -> dict[str, dict[str, float]]:
    summary = summarize_spy(path, wall=(label == "wall"))
    what = (
        "thread holding the GIL (where the CPU goes)"
        if label == "gil"
        else "wall time per thread, as % of the drain (relay thread busy = 100%)"
    )
    print(f"\n### {label}: {what}, {int(summary['_samples']['n'])} samples")
    for kind, cats in summary.items():
        if kind.startswith("_"):
            continue
        share = cats.get("_share_of_samples", 0)
        unit = "of the drain" if label == "wall" else "of GIL samples"
        print(f"  {kind} ({100 * share:.0f}% {unit}):")
        for cat, v in list(cats.items())[:12]:
            if not cat.startswith("_"):
                print(f"    {100 * v:5.1f}%  {cat}")
    print("  top leaf frames:")
    for f, v in summary["_top_leaves"].items():
        print(f"    {100 * v:5.1f}%  {f}")
    if label == "gil":
        for needle, name in (
            ("build (outbox/messages.py", "inside build()"),
            ("Connection.execute (sqlalchemy", "inside SQLAlchemy execute"),
            ("basic_publish (pika", "inside pika basic_publish"),
        ):
            libs = subcategories(path, needle)
            summary.setdefault("_libs", {})[name] = libs  # type: ignore[assignment]
            print(
                f"  {name}, by library of the leaf frame: "
                + ", ".join(f"{k} {100 * v:.0f}%" for k, v in libs.items())
            )
    return summary


def brackets(values: list[float], fmt: str = "{:,.0f}") -> str:
    return "(" + ", ".join(fmt.format(v) for v in values) + ")"


def mb(values: list[float], fmt: str = "{:,.0f}") -> str:
    """The median, then each run in brackets."""
    return f"{fmt.format(med(values))} {brackets(values, fmt)}"


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    print("| " + " | ".join(headers) + " |")
    print("|" + "|".join("---:" if i else "---" for i in range(len(headers))) + "|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.relay", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--rows", type=int, default=30_000, help="delivery rows per throughput run")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--rate", type=float, default=100.0, help="latency: commits per second")
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    parser.add_argument("--sparse-seconds", type=float, default=6.0)
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--commit-seconds", type=float, default=3.0, help="0: skip")
    parser.add_argument("--skip", default="", help="comma list of: throughput,latency,commit")
    parser.add_argument(
        "--batch-size", type=int, help="the relays' --batch-size (default: the relay's own)"
    )
    parser.add_argument("--profile", type=Path, help="also profile a relay×1 run with py-spy")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    parser.add_argument("--keep-logs", action="store_true")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))

    def _terminate(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _terminate)

    suffix = uuid.uuid4().hex[:8]
    db = vhost = f"ordersync_bench_relay_{suffix}"
    log_dir = Path(tempfile.mkdtemp(prefix="bench-relay-"))
    report: dict[str, Any] = {"db": db, "args": {k: str(v) for k, v in vars(args).items()}}
    started = time.monotonic()
    created_db = created_vhost = False
    ctx: Context | None = None
    try:
        create_db(db)
        created_db = True
        create_vhost(vhost)
        created_vhost = True
        from adapters.db.migrate import upgrade

        upgrade(sa_url(db))
        ctx = Context(db, vhost, log_dir, args)
        load = os.getloadavg()
        print(
            f"bench.relay: db/vhost {db}, {args.rows:,} rows/run, {args.repeats} repeats, "
            f"load average {load[0]:.1f}, {os.cpu_count()} CPUs"
        )

        # ---------------------------------------------------------- throughput
        if "throughput" not in skip:
            ctx.reset_outbox()
            ctx.fill(args.rows)
            stages, built = stage_costs(ctx)
            bodies = [(m.queue_name, m.message_id, m.body) for m in built]
            size = statistics.mean(len(b) for _, _, b in bodies)
            report["body_bytes"] = size
            report["stages_us_per_row"] = stages
            run_raw(ctx, bodies, 5000)  # warm-up: fresh queues, broker message store
            runs: dict[str, list[dict[str, Any]]] = {"raw": [], "relay×1": [], "relay×2": []}
            order = list(runs)
            for rep in range(args.repeats):
                for name in order[rep % 3 :] + order[: rep % 3]:
                    if name == "raw":
                        r = run_raw(ctx, bodies, args.rows // 3 * 3)
                    else:
                        r = run_relays(ctx, int(name[-1]))
                    runs[name].append(r)
                    print(
                        f"  [{rep + 1}/{args.repeats}] {name}: {r['rate']:,.0f} msg/s"
                        f" ({r['n']:,} in {r['seconds']:.2f} s, {r['on_queues']:,} on queues)",
                        flush=True,
                    )
            report["throughput"] = runs
            raw_rates = [r["rate"] for r in runs["raw"]]
            raw_med = med(raw_rates)
            print(
                f"\n## Throughput ({args.rows:,} rows per run, message body {size:,.0f} bytes avg)"
            )
            print(
                "medians of "
                f"{args.repeats} interleaved runs; each run in brackets; ratio = relay / raw of the"
                " same repeat\n"
            )
            rows = []
            for name, rs in runs.items():
                rates = [r["rate"] for r in rs]
                ratios = [r["rate"] / raw["rate"] for r, raw in zip(rs, runs["raw"], strict=True)]
                cpu = {
                    g: med([r["cpu_us"].get(g, float("nan")) for r in rs])
                    for g in ("client", "relay", "postgres", "broker")
                }
                client = cpu["client"] if name == "raw" else cpu["relay"]
                rows.append(
                    [
                        name,
                        f"{med(rates):,.0f} {brackets(rates)}",
                        "—"
                        if name == "raw"
                        else "**" + mb([100 * x for x in ratios], "{:.0f}%").replace(" ", "** ", 1),
                        "—" if name == "raw" else ("met" if med(ratios) >= 0.8 else "not met"),
                        f"{client:,.0f}",
                        "—" if name == "raw" else f"{cpu['postgres']:,.0f}",
                        f"{cpu['broker']:,.0f}",
                    ]
                )
            print_table(
                [
                    "run",
                    "msg/s",
                    "vs raw",
                    "80% target",
                    "publisher CPU µs/msg",
                    "PostgreSQL CPU µs/msg",
                    "RabbitMQ CPU µs/msg",
                ],
                rows,
            )
            print(f"\nraw median {raw_med:,.0f} msg/s → 80% target = {0.8 * raw_med:,.0f} msg/s")
            print(
                "\nrelay stages in-process (1 thread, batches of 1,000, median of 5), µs per row:"
            )
            for k, v in stages.items():
                print(f"  {v:7.1f}  {k}")
            print(
                f"  {sum(stages.values()):7.1f}  sum → ceiling"
                f" {1e6 / sum(stages.values()):,.0f} rows/s"
                " for one relay before any publishing"
            )

        # ---------------------------------------------------------- latency
        if "latency" not in skip:
            lat: dict[str, list[dict[str, Any]]] = {"notify": [], "poll": []}
            modes = list(lat)
            for rep in range(args.repeats):
                for mode in modes[rep % 2 :] + modes[: rep % 2]:
                    r = run_latency(ctx, mode, f"{rep}{mode}")
                    lat[mode].append(r)
                    print(
                        f"  [{rep + 1}/{args.repeats}] {mode}: p50 {r['p50']:.1f}"
                        f" p95 {r['p95']:.1f}"
                        f" p99 {r['p99']:.1f} ms ({r['samples']} samples, {r['missing']} missing);"
                        f" idle relay CPU {r['idle_cpu_pct']['relay']:.2f}%",
                        flush=True,
                    )
            report["latency"] = lat
            print(
                f"\n## Commit → on queue at {args.rate:.0f} commits/s"
                f" ({args.latency_seconds:g} s measured after 1 s warm-up; 1 relay; medians of "
                f"{args.repeats} interleaved runs, each in brackets)\n"
            )
            labels = {
                "notify": f"NOTIFY (writer pg_notify; safety poll {NOTIFY_SAFETY_POLL_S:g} s)",
                "poll": f"adaptive polling (1 ms doubling to {POLL_MAX_S:g} s)",
            }

            def col(rs: list[dict[str, Any]], key: str, fmt: str, sub: str | None = None) -> str:
                return mb([r[key][sub] if sub else r[key] for r in rs], fmt)

            print_table(
                [
                    "wake-up",
                    "p50 ms",
                    "p95 ms",
                    "p99 ms",
                    "max ms",
                    "commit p50 / p99 ms",
                    "relay CPU (1 core = 100%)",
                    "relay cycles/s ≈",
                ],
                [
                    [
                        labels[mode],
                        *[col(rs, p, "{:.1f}") for p in ("p50", "p95", "p99")],
                        f"{med([r['max'] for r in rs]):.0f}",
                        f"{med([r['commit_p50'] for r in rs]):.2f}"
                        f" / {med([r['commit_p99'] for r in rs]):.2f}",
                        col(rs, "busy_cpu_pct", "{:.0f}%", "relay"),
                        col(rs, "busy_cycles_per_s", "{:.0f}"),
                    ]
                    for mode, rs in lat.items()
                ],
            )
            print(
                f"\n## Idle ({args.idle_seconds:g} s, no writes) and sparse traffic (one commit"
                f" every 0.25-0.75 s for {args.sparse_seconds:g} s, latencies pooled over runs)\n"
            )
            print_table(
                [
                    "wake-up",
                    "idle relay CPU",
                    "idle PG backend CPU",
                    "idle cycles/s ≈",
                    "sparse p50 ms",
                    "sparse p90 ms",
                    "sparse max ms",
                ],
                [
                    [
                        labels[mode],
                        col(rs, "idle_cpu_pct", "{:.2f}%", "relay"),
                        col(rs, "idle_cpu_pct", "{:.2f}%", "postgres"),
                        col(rs, "idle_cycles_per_s", "{:.1f}"),
                        f"{pct([x for r in rs for x in r['sparse']], 50):.1f}",
                        f"{pct([x for r in rs for x in r['sparse']], 90):.1f}",
                        f"{max([x for r in rs for x in r['sparse']], default=float('nan')):.1f}",
                    ]
                    for mode, rs in lat.items()
                ],
            )
            miss = sum(r["missing"] for rs in lat.values() for r in rs)
            dup = sum(r["duplicates"] for rs in lat.values() for r in rs)
            n_sparse = sum(len(r["sparse"]) for rs in lat.values() for r in rs)
            print(
                f"\nmessages missing: {miss}, duplicates: {dup}; {n_sparse} sparse samples;"
                " cycles/s = the scratch database's transactions (pg_stat_database) minus the"
                " writer's commits"
            )

        # ---------------------------------------------------------- commit cost
        if "commit" not in skip and args.commit_seconds > 0:
            cc: dict[str, list[dict[str, Any]]] = {"poll": [], "notify": []}
            modes = list(cc)
            for rep in range(args.repeats):
                for mode in modes[rep % 2 :] + modes[: rep % 2]:
                    r = run_commit_cost(ctx, mode, f"{rep}{mode}")
                    cc[mode].append(r)
                    print(
                        f"  [{rep + 1}/{args.repeats}] commit {mode}: {r['rate']:,.0f} commits/s",
                        flush=True,
                    )
            report["commit_cost"] = cc
            print(
                "\n## NOTIFY's cost at commit: the writer's statement (1 event per commit,"
                f" captured from write_events) replayed with psycopg on {COMMIT_THREADS}"
                f" connections for {args.commit_seconds:g} s, relay draining; medians, runs in"
                " brackets\n"
            )
            ratios = [n["rate"] / p["rate"] for n, p in zip(cc["notify"], cc["poll"], strict=True)]
            rows = []
            for mode, rs in cc.items():
                rows.append(
                    [
                        "+ SELECT pg_notify (as write_events sends it)"
                        if mode == "notify"
                        else "writer statement alone (raw baseline)",
                        f"{med([r['rate'] for r in rs]):,.0f} {brackets([r['rate'] for r in rs])}",
                        f"{med([r['p50'] for r in rs]):.2f} / {med([r['p99'] for r in rs]):.2f}",
                        "—"
                        if mode == "poll"
                        else f"{100 * (1 - med(ratios)):.0f}% "
                        f"{brackets([100 * (1 - x) for x in ratios], '{:.0f}%')}",
                    ]
                )
            print_table(["writer", "commits/s", "commit p50 / p99 ms", "NOTIFY cost"], rows)

        # ---------------------------------------------------------- profile
        if args.profile:
            if py_spy() is None:
                print("\npy-spy not found: no profile")
            else:
                r = run_relays(ctx, 1, profile=args.profile)
                report["profile_run"] = r
                print(
                    f"\n## py-spy, relay×1 draining ({r['rate']:,.0f} msg/s under the profiler;"
                    f" files in {args.profile})"
                )
                for label in SPY_MODES:
                    path = args.profile / f"relay-{label}.txt"
                    if path.exists():
                        report[f"spy_{label}"] = print_spy(path, label)
                r = run_latency(ctx, "poll", "prof", profile=args.profile)
                path = args.profile / "relay-100rps-gil.txt"
                print(
                    f"\n## py-spy, relay at {args.rate:.0f} rows/s, adaptive polling"
                    f" (relay CPU {r['busy_cpu_pct']['relay']:.0f}%,"
                    f" ≈{r['busy_cycles_per_s']:.0f} cycles/s)"
                )
                if path.exists():
                    report["spy_100rps_gil"] = print_spy(path, "gil")
        kept = f"; relay logs in {log_dir}" if args.keep_logs else ""
        print(f"\ntotal time {time.monotonic() - started:.0f} s{kept}")
    finally:
        if ctx is not None:
            ctx.engine.dispose()
        if created_db:
            with contextlib.suppress(Exception):
                drop_db(db)
        if created_vhost:
            with contextlib.suppress(Exception):
                drop_vhost(vhost)
        if not args.keep_logs:
            shutil.rmtree(log_dir, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
