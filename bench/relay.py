"""Relay benchmark: outbox rows published per second beside pika's raw rate, and
commit → on-queue latency with NOTIFY wake-ups vs adaptive polling.

    .venv/bin/python -m bench.relay [--rows N] [--repeats R] [--batch-size N]
                                    [--rate R] [--latency-seconds S] [--idle-seconds S]
                                    [--sparse-seconds S] [--commit-seconds S]
                                    [--skip throughput,latency,commit] [--json FILE]

In a scratch database and vhost (dropped at the end), --repeats times each, interleaved:

* **throughput** — *raw* (pika SelectConnection, asynchronous confirms, 1,000 in flight,
  mandatory, persistent, the bodies outbox.messages.build makes) against *relay×1* and
  *relay×2* (``ordersync relay`` processes draining N rows from write_orders; the clock
  starts once they hold their leases, the bench holding the rows locked until then);
  and the relay's stages in this process as its hooks report them, µs per row;
* **latency** — one relay idle (its CPU and its backends'), then one commit every
  1/--rate s through write_events, arrivals on the ``wms`` queue timestamped by a
  consumer process, then sparse commits (every 0.25–0.75 s); *notify* against *poll*;
* **commit cost** — the writer's statement (captured from write_events) on 8 plain
  psycopg connections for --commit-seconds, with and without its pg_notify.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import multiprocessing
import os
import random
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pika
from pika.spec import Basic

from bench.common import (
    CLK_TCK,
    CpuMeter,
    LoggedProcess,
    amqp_url,
    backend_pids,
    broker_pid,
    child_env,
    connect,
    cpu_ticks,
    log,
    med,
    ordersync_command,
    pct,
    runs,
    sa_url,
    scratch,
    table,
    terminate_on_sigterm,
    wait_until,
)
from ops.wiring import QUEUES, ROUTING

WINDOW = 1000  # raw baseline: messages in flight
POLL_MAX_S = 0.05  # adaptive polling: the setting's default
NOTIFY_SAFETY_POLL_S = 1.0  # with NOTIFY, the idle poll is only a safety net
COMMIT_THREADS = 8


def declarations() -> list[tuple[str, dict[str, object]]]:
    from ops.wiring import QUEUES
    from outbox.queues import declarations as of

    return [d for q in QUEUES for d in of(q)]


def purge_queues(vhost: str) -> None:
    """Declare (the relay's arguments) and purge every queue."""
    conn = pika.BlockingConnection(pika.URLParameters(amqp_url(vhost)))
    with contextlib.closing(conn):
        ch = conn.channel()
        for name, arguments in declarations():
            ch.queue_declare(queue=name, durable=True, arguments=arguments)
            ch.queue_purge(name)


def queued(vhost: str) -> int:
    conn = pika.BlockingConnection(pika.URLParameters(amqp_url(vhost)))
    with contextlib.closing(conn):
        ch = conn.channel()
        return sum(
            ch.queue_declare(queue=n, passive=True).method.message_count
            for n in ("wms", "channels")
        )


def raw_publish(vhost: str, messages: list[tuple[str, str, bytes]], n: int) -> dict[str, Any]:
    """pika SelectConnection, asynchronous confirms, ≤WINDOW in flight: n messages (cycling
    through `messages`), mandatory and persistent; first publish → last confirm."""
    state: dict[str, Any] = {"sent": 0, "confirmed": 0, "nacked": 0, "returned": 0}
    settled, low, channel = bytearray(n + 2), [1], []

    def pump() -> None:
        while state["sent"] < n and state["sent"] - state["confirmed"] < WINDOW:
            queue, message_id, body = messages[state["sent"] % len(messages)]
            # a fresh BasicProperties per message, as the relay does
            properties = pika.BasicProperties(delivery_mode=2, message_id=message_id)
            channel[0].basic_publish("", queue, body, properties, mandatory=True)
            state["sent"] += 1

    def on_confirm(frame: Any) -> None:
        method = frame.method
        state["nacked"] += isinstance(method, Basic.Nack)
        first = low[0] if method.multiple else method.delivery_tag
        for tag in range(first, method.delivery_tag + 1):
            if not settled[tag]:
                settled[tag] = 1
                state["confirmed"] += 1
        while low[0] <= n and settled[low[0]]:
            low[0] += 1
        if state["confirmed"] < n:
            pump()
            return
        state["t1"], state["cpu1"] = time.perf_counter(), os.times()
        conn.close()

    def declare(pending: list[tuple[str, dict[str, object]]]) -> None:
        if not pending:
            state["t0"], state["cpu0"] = time.perf_counter(), os.times()
            pump()
            return
        name, arguments = pending[0]
        channel[0].queue_declare(
            name, durable=True, arguments=arguments, callback=lambda _: declare(pending[1:])
        )

    def on_channel(ch: Any) -> None:
        channel.append(ch)
        ch.add_on_return_callback(lambda *_: state.update(returned=state["returned"] + 1))
        ch.confirm_delivery(on_confirm, callback=lambda _: declare(declarations()))

    def on_open_error(c: Any, error: Any) -> None:
        state["error"] = repr(error)
        c.ioloop.stop()

    conn = pika.SelectConnection(
        pika.URLParameters(amqp_url(vhost)),
        on_open_callback=lambda c: c.channel(on_open_callback=on_channel),
        on_open_error_callback=on_open_error,
        on_close_callback=lambda c, _r: c.ioloop.stop(),
    )
    conn.ioloop.start()
    if "error" in state or "t1" not in state:
        raise RuntimeError(f"raw publish failed: {state}")
    cpu = sum(getattr(state["cpu1"], f) - getattr(state["cpu0"], f) for f in ("user", "system"))
    elapsed = state["t1"] - state["t0"]
    return {"rate": n / elapsed, "seconds": elapsed, "client_cpu_s": cpu, **state}


def consume(vhost: str, queue: str, pipe: Any) -> None:
    """A consumer process: timestamp each arrival on `queue` until told to stop."""
    conn = pika.BlockingConnection(pika.URLParameters(amqp_url(vhost)))
    ch = conn.channel()
    ch.basic_qos(prefetch_count=100)
    arrivals: list[tuple[float, bytes]] = []
    ch.basic_consume(queue, lambda _c, _m, _p, body: arrivals.append((time.time(), body)), True)
    pipe.send("ready")
    while not pipe.poll():
        conn.process_data_events(time_limit=0.05)
    conn.process_data_events(time_limit=0)
    conn.close()
    pipe.send([(json.loads(body)["args"][0]["aggregate_id"], t) for t, body in arrivals])


class Context:
    def __init__(self, db: str, args: argparse.Namespace) -> None:
        from adapters.db.engine import make_engine

        self.db = self.vhost = db
        self.args = args
        self.seq = 0
        self.logs = Path(tempfile.mkdtemp(prefix="bench-relay-"))
        self.engine = make_engine(sa_url(db), pool_size=8)
        self.broker = broker_pid()

    def reset_outbox(self) -> None:
        with connect(self.db) as conn:
            conn.execute("TRUNCATE outbox_deliveries, outbox_events, outbox_sequences")
            # fresh statistics: no autovacuum analyze wakes up in the middle of a window
            conn.execute("ANALYZE outbox_deliveries, outbox_events, outbox_sequences")
        purge_queues(self.vhost)

    def fill(self, rows: int) -> int:
        from tests.outbox_rows import write_orders

        self.seq += 1
        write_orders(self.engine, max(1, rows // 3), 2, prefix=f"t{self.seq}")
        with connect(self.db) as conn:
            conn.execute("ANALYZE outbox_deliveries, outbox_events")
        return self.unpublished()

    def unpublished(self) -> int:
        with connect(self.db) as conn:
            sql = "SELECT count(*) FROM outbox_deliveries WHERE published_at IS NULL"
            return int(conn.execute(sql).fetchone()[0])

    @contextlib.contextmanager
    def relays(self, count: int, *, notify: bool) -> Iterator[list[LoggedProcess]]:
        """`count` relay processes, each holding its share of the partition leases."""
        env = child_env(
            ORDERSYNC_DATABASE_URL=sa_url(self.db),
            ORDERSYNC_BROKER_URL=amqp_url(self.vhost),
            ORDERSYNC_OUTBOX_NOTIFY="true" if notify else "false",
            ORDERSYNC_RELAY_IDLE_POLL_MAX_S=str(NOTIFY_SAFETY_POLL_S if notify else POLL_MAX_S),
        )
        batch = ["--batch-size", str(self.args.batch_size)] if self.args.batch_size else []
        procs = []
        try:
            for i in range(count):
                self.seq += 1
                name = f"bench-relay-{self.seq}-{i}"
                command = [*ordersync_command(), "relay", "--name", name, *batch]
                procs.append(LoggedProcess(name, command, env, self.logs / f"{name}.log"))
            self.wait_leases(procs)
            yield procs
        finally:
            for p in procs:
                p.stop()

    def wait_leases(self, procs: list[LoggedProcess]) -> None:
        from outbox.leases import HOLDERS
        from outbox.partition import PARTITIONS

        share, names = math.ceil(PARTITIONS / len(procs)), {p.name for p in procs}

        def balanced() -> bool:
            with connect(self.db) as conn:
                rows = conn.execute(HOLDERS).fetchall()
            held = {r[0]: len(r[2]) for r in rows if r[0] in names}
            return (
                len(held) == len(procs)
                and sum(held.values()) == PARTITIONS
                and (max(held.values()) <= share)
            )

        check = lambda: [p.check() for p in procs] and None  # noqa: E731
        wait_until(balanced, 60, "the relays' leases", check=check)


def stage_costs(ctx: Context, batches: int = 5) -> dict[str, float]:
    """The relay's own stages in this process (a Relay on RabbitMQ, batches of 1,000), as
    its hooks report them: µs per row, median of `batches`."""
    from outbox.hooks import BatchReport, RelayHooks
    from outbox.rabbitmq_publisher import RabbitPublisher
    from outbox.relay import Relay

    hooks, reports = RelayHooks(), list[BatchReport]()
    hooks.subscribe(reports.append)
    relay = Relay(
        ctx.engine,
        RabbitPublisher(amqp_url(ctx.vhost)),
        queues=QUEUES,
        batch_size=1000,
        hooks=hooks,
    )
    try:
        for _ in range(batches):
            relay.run_once()
    finally:
        relay.shutdown()
    labels = {
        "claim": "claim SELECT … FOR UPDATE SKIP LOCKED (psycopg named tuples)",
        "build": "build (envelope, orjson, payload spliced)",
        "mark": "mark UPDATE … WHERE id = ANY(ids), COMMIT",
    }
    return {
        label: med([r.span(name).seconds / max(r.span(name).count, 1) * 1e6 for r in reports])
        for name, label in labels.items()
    }


def message_bodies(ctx: Context) -> list[tuple[str, str, bytes]]:
    """Messages as the relay builds them from the unpublished rows (for the raw baseline)."""
    from outbox.messages import build
    from outbox.relay_queries import deliveries_with_events
    from outbox.tables import deliveries_table as d

    with ctx.engine.connect() as conn:
        rows = conn.execute(deliveries_with_events().where(d.c.published_at.is_(None))).all()
    return [(m.queue_name, m.message_id, m.body) for m in map(build, rows)]


def run_raw(ctx: Context, messages: list[tuple[str, str, bytes]], n: int) -> dict[str, Any]:
    purge_queues(ctx.vhost)
    broker0 = cpu_ticks(ctx.broker) if ctx.broker else 0
    result = raw_publish(ctx.vhost, messages, n)
    broker_s = (cpu_ticks(ctx.broker) - broker0) / CLK_TCK if ctx.broker else math.nan
    cpu = {"client": result["client_cpu_s"] / n * 1e6, "broker": broker_s / n * 1e6}
    return {**result, "n": n, "on_queues": queued(ctx.vhost), "cpu_us": cpu}


def run_relays(ctx: Context, count: int) -> dict[str, Any]:
    ctx.reset_outbox()
    n = ctx.fill(ctx.args.rows)
    with connect(ctx.db, autocommit=False) as lock:
        # Hold every row: the relays start, join and rebalance, and find nothing.
        lock.execute("SELECT id FROM outbox_deliveries WHERE published_at IS NULL FOR UPDATE")
        with ctx.relays(count, notify=False) as procs:
            pids = [p.pid for p in procs]
            meter = CpuMeter(
                {
                    "relay": lambda: pids,
                    "postgres": lambda: backend_pids(ctx.db),
                    "broker": lambda: [ctx.broker] if ctx.broker else [],
                }
            ).start()
            t0 = time.perf_counter()
            lock.rollback()  # the clock starts: the rows are free
            check = lambda: [p.check() for p in procs] and None  # noqa: E731
            wait_until(lambda: ctx.unpublished() == 0, 600, "the relays", 0.02, check)
            elapsed = time.perf_counter() - t0
            meter.stop()
    cpu = {g: s / n * 1e6 for g, s in meter.seconds.items()}
    return {
        "n": n,
        "rate": n / elapsed,
        "seconds": elapsed,
        "on_queues": queued(ctx.vhost),
        "cpu_us": cpu,
    }


def run_latency(ctx: Context, mode: str, tag: str) -> dict[str, Any]:
    from outbox.writer import write_events
    from tests.outbox_rows import TRACE, order_events

    notify, rate = mode == "notify", ctx.args.rate
    warm = int(rate)  # the first second is not counted
    events = [
        order_events(f"lat-{tag}-{i}", 1)[0]
        for i in range(warm + int(rate * ctx.args.latency_seconds))
    ]
    sparse = [
        order_events(f"sp-{tag}-{i}", 1)[0] for i in range(int(ctx.args.sparse_seconds / 0.5))
    ]
    ctx.reset_outbox()
    commits: dict[str, float] = {}

    def commit(event: Any) -> None:
        with ctx.engine.begin() as conn:
            write_events(conn, [event], TRACE, lambda: ["web"], routing=ROUTING, notify=notify)
        commits[event.aggregate_id] = time.time()

    mp = multiprocessing.get_context("spawn")
    parent, child = mp.Pipe()
    consumer = mp.Process(target=consume, args=(ctx.vhost, "wms", child), daemon=True)
    consumer.start()
    try:
        if not parent.poll(30) or parent.recv() != "ready":
            raise RuntimeError("the consumer did not start")
        with ctx.relays(1, notify=notify) as (relay,):

            def meter() -> CpuMeter:
                return CpuMeter(
                    {"relay": lambda: [relay.pid], "postgres": lambda: backend_pids(ctx.db)}
                )

            time.sleep(2.0)  # settle: idle backoff reached, start-up statistics flushed
            idle = meter().start()
            time.sleep(ctx.args.idle_seconds)
            idle.stop()
            busy = meter().start()
            t0 = time.perf_counter() + 0.05
            for i, event in enumerate(events):
                if (delay := t0 + i / rate - time.perf_counter()) > 0:
                    time.sleep(delay)
                commit(event)
            busy.stop()
            wait_until(lambda: ctx.unpublished() == 0, 30, "the relay", check=relay.check)
            time.sleep(1.0)  # sparse traffic: the relay backed off between commits
            rng = random.Random(tag)
            for event in sparse:
                time.sleep(rng.uniform(0.25, 0.75))
                commit(event)
            wait_until(lambda: ctx.unpublished() == 0, 30, "the relay", check=relay.check)
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
    seen = {a for a, _ in arrivals}
    return {
        "mode": mode,
        "missing": len({e.aggregate_id for e in events + sparse} - seen),
        "duplicates": len(arrivals) - len(seen),
        **{f"p{p}": pct(latencies, p) for p in (50, 95, 99)},
        "max": max(latencies, default=math.nan),
        "sparse": lat(sparse),
        "idle_cpu_pct": idle.percent(),
        "busy_cpu_pct": busy.percent(),
    }


class CapturedStatements:
    """A stand-in for a SQLAlchemy connection: records what write_events sends."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def exec_driver_sql(self, statement: str, params: tuple[Any, ...] = ()) -> None:
        self.calls.append((statement, params))


def run_commit_cost(ctx: Context, mode: str, tag: str) -> dict[str, Any]:
    """The writer's own statements replayed with plain psycopg on COMMIT_THREADS connections
    as fast as they go, with or without its pg_notify; a relay drains meanwhile."""
    from outbox.writer import write_events
    from tests.outbox_rows import TRACE, order_events

    notify = mode == "notify"
    capture = CapturedStatements()
    template = order_events("cc-TEMPLATE-AGG", 1)[0]
    write_events(capture, [template], TRACE, lambda: ["web"], routing=ROUTING, notify=True)  # type: ignore[arg-type]
    (write_sql, write_params), notify_call = capture.calls[0], capture.calls[1]
    template_id = json.loads(write_params[0])[0]["event_id"]
    ctx.reset_outbox()
    counts, durations = [0] * COMMIT_THREADS, [list[float]() for _ in range(COMMIT_THREADS)]
    start, stop_at = threading.Event(), [0.0]
    conns = [connect(ctx.db, autocommit=False) for _ in range(COMMIT_THREADS)]

    def writer(k: int) -> None:
        start.wait()
        while time.perf_counter() < stop_at[0]:
            event_id, aggregate = str(uuid.uuid4()), f"cc-{tag}-{k}-{counts[k]}"
            params = tuple(
                p.replace(template_id, event_id).replace("cc-TEMPLATE-AGG", aggregate)
                for p in write_params
            )
            t = time.perf_counter()
            conns[k].execute(write_sql, params)
            if notify:
                conns[k].execute(*notify_call)
            conns[k].commit()
            durations[k].append((time.perf_counter() - t) * 1000)
            counts[k] += 1

    try:
        with ctx.relays(1, notify=notify):
            threads = [threading.Thread(target=writer, args=(k,)) for k in range(COMMIT_THREADS)]
            for t in threads:
                t.start()
            t0 = time.perf_counter()
            stop_at[0] = t0 + ctx.args.commit_seconds
            start.set()
            for t in threads:
                t.join()
            elapsed = time.perf_counter() - t0
    finally:
        for c in conns:
            c.close()
    every = [d for ds in durations for d in ds]
    return {
        "mode": mode,
        "rate": sum(counts) / elapsed,
        "p50": pct(every, 50),
        "p99": pct(every, 99),
    }


def interleaved(names: list[str], repeats: int) -> Iterator[tuple[int, str]]:
    """(repeat, name) for every repeat, the order rotated each time: noise hits them all."""
    for rep in range(repeats):
        for name in names[rep % len(names) :] + names[: rep % len(names)]:
            yield rep + 1, name


def throughput(ctx: Context, report: dict[str, Any]) -> None:
    args = ctx.args
    ctx.reset_outbox()
    ctx.fill(args.rows)
    bodies = message_bodies(ctx)
    report["stages_us_per_row"] = stages = stage_costs(ctx)
    size = statistics.mean(len(b) for _, _, b in bodies)
    run_raw(ctx, bodies, 5000)  # warm-up: fresh queues, the broker's message store
    results: dict[str, list[dict[str, Any]]] = {"raw": [], "relay×1": [], "relay×2": []}
    for rep, name in interleaved(list(results), args.repeats):
        if name == "raw":
            r = run_raw(ctx, bodies, args.rows // 3 * 3)
        else:
            r = run_relays(ctx, int(name[-1]))
        results[name].append(r)
        log(f"[{rep}] {name}: {r['rate']:,.0f} msg/s, {r['on_queues']:,} of {r['n']:,} on queues")
    report["throughput"] = results
    rows = []
    for name, rs in results.items():
        ratios = [r["rate"] / raw["rate"] for r, raw in zip(rs, results["raw"], strict=True)]
        cpu = {
            g: med([r["cpu_us"].get(g, math.nan) for r in rs])
            for g in ("client", "relay", "postgres", "broker")
        }
        relay = name != "raw"
        rows.append(
            [
                name,
                runs([r["rate"] for r in rs]),
                f"**{runs([100 * x for x in ratios], '.0f')}%**" if relay else "—",
                ("met" if med(ratios) >= 0.8 else "not met") if relay else "—",
                f"{cpu['relay' if relay else 'client']:,.0f}",
                f"{cpu['postgres']:,.0f}" if relay else "—",
                f"{cpu['broker']:,.0f}",
            ]
        )
    headers = ["run", "msg/s", "vs raw", "80% target", "publisher CPU µs/msg"]
    headers += ["PostgreSQL CPU µs/msg", "RabbitMQ CPU µs/msg"]
    print(table(headers, rows, f"Throughput ({args.rows:,} rows a run, bodies {size:,.0f} B)"))
    ceiling = ["sum → rows/s ceiling of one relay", f"{1e6 / sum(stages.values()):,.0f}"]
    stage_rows = [*([k, f"{v:.1f}"] for k, v in stages.items()), ceiling]
    print(table(["relay stage (1 thread, batches of 1,000)", "µs per row"], stage_rows))


def latency(ctx: Context, report: dict[str, Any]) -> None:
    args = ctx.args
    results: dict[str, list[dict[str, Any]]] = {"notify": [], "poll": []}
    for rep, mode in interleaved(list(results), args.repeats):
        r = run_latency(ctx, mode, f"{rep}{mode}")
        results[mode].append(r)
        log(f"[{rep}] {mode}: p50 {r['p50']:.1f} p99 {r['p99']:.1f} ms, {r['missing']} missing")
    report["latency"] = results
    labels = {
        "notify": f"NOTIFY (writer pg_notify; safety poll {NOTIFY_SAFETY_POLL_S:g} s)",
        "poll": f"adaptive polling (1 ms doubling to {POLL_MAX_S:g} s)",
    }

    def col(rs: list[dict[str, Any]], key: str, spec: str, sub: str | None = None) -> str:
        return runs([r[key][sub] if sub else r[key] for r in rs], spec)

    busy = [
        [
            labels[m],
            *(col(rs, p, ".1f") for p in ("p50", "p95", "p99")),
            f"{med([r['max'] for r in rs]):.0f}",
            col(rs, "busy_cpu_pct", ".0f", "relay"),
        ]
        for m, rs in results.items()
    ]
    headers = ["wake-up", "p50 ms", "p95 ms", "p99 ms", "max ms", "relay CPU %"]
    print(table(headers, busy, f"Commit → on queue at {args.rate:g} commits/s"))
    idle = [
        [
            labels[m],
            col(rs, "idle_cpu_pct", ".2f", "relay"),
            col(rs, "idle_cpu_pct", ".2f", "postgres"),
            *(f"{pct([x for r in rs for x in r['sparse']], p):.1f}" for p in (50, 90, 100)),
        ]
        for m, rs in results.items()
    ]
    headers = ["wake-up", "idle relay CPU %", "idle PG backend CPU %"]
    headers += ["sparse p50 ms", "sparse p90 ms", "sparse max ms"]
    print(table(headers, idle, "Idle, and sparse traffic"))
    missing = sum(r["missing"] for rs in results.values() for r in rs)
    duplicates = sum(r["duplicates"] for rs in results.values() for r in rs)
    print(f"messages missing: {missing}, duplicates: {duplicates}\n")


def commit_cost(ctx: Context, report: dict[str, Any]) -> None:
    results: dict[str, list[dict[str, Any]]] = {"poll": [], "notify": []}
    for rep, mode in interleaved(list(results), ctx.args.repeats):
        results[mode].append(run_commit_cost(ctx, mode, f"{rep}{mode}"))
        log(f"[{rep}] commit {mode}: {results[mode][-1]['rate']:,.0f} commits/s")
    report["commit_cost"] = results
    costs = [
        100 * (1 - n["rate"] / p["rate"])
        for n, p in zip(results["notify"], results["poll"], strict=True)
    ]
    labels = {
        "poll": "writer statement alone (raw baseline)",
        "notify": "+ SELECT pg_notify (as write_events sends it)",
    }
    rows = [
        [
            labels[mode],
            runs([r["rate"] for r in rs]),
            f"{med([r['p50'] for r in rs]):.2f} / {med([r['p99'] for r in rs]):.2f}",
            f"{runs(costs, '.0f')}%" if mode == "notify" else "—",
        ]
        for mode, rs in results.items()
    ]
    title = f"NOTIFY's cost at commit ({COMMIT_THREADS} connections, {ctx.args.commit_seconds:g} s)"
    print(table(["writer", "commits/s", "commit p50 / p99 ms", "NOTIFY cost"], rows, title))


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.relay", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--rows", type=int, default=30_000, help="delivery rows per throughput run")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--rate", type=float, default=100.0, help="latency: commits per second")
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    parser.add_argument("--sparse-seconds", type=float, default=6.0)
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--commit-seconds", type=float, default=3.0, help="0: skip")
    parser.add_argument("--skip", default="", help="comma list of: throughput,latency,commit")
    parser.add_argument("--batch-size", type=int, help="the relays' --batch-size")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    report: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}}
    started = time.monotonic()
    with terminate_on_sigterm(), scratch("ordersync_bench_relay", vhost=True) as db:
        ctx = Context(db, args)
        log(f"bench.relay: {db}, {args.rows:,} rows a run, load average {os.getloadavg()[0]:.1f}")
        try:
            if "throughput" not in skip:
                throughput(ctx, report)
            if "latency" not in skip:
                latency(ctx, report)
            if "commit" not in skip and args.commit_seconds > 0:
                commit_cost(ctx, report)
        finally:
            ctx.engine.dispose()
    print(f"total time {time.monotonic() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
