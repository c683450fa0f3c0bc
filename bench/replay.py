"""Replay benchmark: how fast a replay gets a range of the outbox back onto the queues,
beside the relay's own drain rate in the same run, and what a replay at full speed does
to live ingest latency.

    .venv/bin/python -m bench.replay [--events N] [--seconds S] [--clients C]
                                     [--repeats R] [--json FILE]

In a scratch database and vhost (dropped at the end), with one `ordersync relay`:

* **drain** — N fresh outbox rows (tests/outbox_rows.write_orders), the relay publishing
  them all: its drain rate, the baseline (bench.relay measures it against raw pika);
* **replay** — the same N rows marked applied (as the workers would have), then
  `ops.replay` over all of them (*reprocess*, then *redeliver*) at full speed, in this
  process: the rate at which the replay releases them, and the rate from its start until
  the relay has published the last of them again — events/s, and its ratio to the drain;
* **ingest** — `ordersync api` on the same database, C clients posting orders for S
  seconds (bench.ingest's load generator): p50/p99 without a replay, and with a
  reprocess replay of the N rows running meanwhile (the relay also publishing the new
  orders' rows).

Figures compare within one run only; the ratios are the result.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import (
    connect,
    log,
    med,
    runs,
    scratch,
    table,
    terminate_on_sigterm,
    wait_until,
)
from bench.ingest import ApiProcess, Setup, run_api, setup_db
from bench.relay import Context, purge_queues, run_relays


def settle(ctx: Context) -> None:
    """Every row published and applied, no replay holding a cursor: as after the workers."""
    with connect(ctx.db) as conn:
        conn.execute(
            "UPDATE outbox_deliveries SET status = 'applied', applied_at = now(),"
            " published_at = coalesce(published_at, now()) WHERE status <> 'applied'"
        )
        conn.execute("UPDATE consumer_cursors SET replay_id = NULL WHERE replay_id IS NOT NULL")
        conn.execute("UPDATE replays SET state = 'done' WHERE state IN ('running', 'interrupted')")
        conn.execute("ANALYZE outbox_deliveries")
    purge_queues(ctx.vhost)


def run_replay(ctx: Context, mode: str) -> dict[str, Any]:
    """A replay of every row at full speed, the relay running: release and republish rates."""
    from adapters.db.replays import ReplayFilter
    from ops import replay

    settle(ctx)
    flt = ReplayFilter(statuses=("applied",))
    t0 = time.perf_counter()
    replay_id, selection = replay.start(ctx.engine, mode, flt, created_by="bench")
    planned = time.perf_counter()
    summary = replay.run(ctx.engine, replay_id)
    released = time.perf_counter()
    wait_until(lambda: ctx.unpublished() == 0, 600, "the relay republishing", 0.02)
    done = time.perf_counter()
    n = summary.released
    return {
        "mode": mode,
        "n": n,
        "plan_s": planned - t0,
        "release_rate": n / (released - t0),
        "rate": n / (done - t0),
        "seconds": done - t0,
        "total": selection.total,
    }


def ingest(setup: Setup, ctx: Context, clients: int, with_replay: bool, tag: str) -> dict[str, Any]:
    from adapters.db.replays import ReplayFilter
    from ops import replay

    settle(ctx)
    runner: threading.Thread | None = None
    replayed: dict[str, Any] = {}
    if with_replay:
        flt = ReplayFilter(statuses=("applied",), destinations=("wms",))
        replay_id, _ = replay.start(ctx.engine, "reprocess", flt, created_by="bench")

        def go() -> None:
            began = time.perf_counter()
            replayed["released"] = replay.run(ctx.engine, replay_id).released
            replayed["seconds"] = time.perf_counter() - began

        runner = threading.Thread(target=go, daemon=True)
        runner.start()
    window = run_api(setup, clients, tag)
    if runner is not None:
        runner.join(600)
    return {
        "replay": with_replay,
        "orders": window.orders,
        "rate": window.rate,
        "p50": window.pct(0.50),
        "p99": window.pct(0.99),
        "errors": dict(window.errors),
        "replayed": replayed,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.replay", description=(__doc__ or "").split("\n")[0]
    )
    p.add_argument("--events", type=int, default=100_000, help="outbox rows replayed")
    p.add_argument("--seconds", type=float, default=8.0, help="ingest: measured seconds")
    p.add_argument("--warmup", type=float, default=1.0)
    p.add_argument("--clients", type=int, default=8, help="ingest: concurrent clients")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--skus", type=int, default=200)
    p.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = p.parse_args(argv)
    args.rows, args.batch_size = args.events, None  # what bench.relay's Context reads
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}}
    started = time.monotonic()
    with terminate_on_sigterm(), scratch("ordersync_bench_replay", vhost=True) as db:
        ctx = Context(db, args)
        log(f"bench.replay: {db}, {args.events:,} events, load {os.getloadavg()[0]:.1f}")
        skus = [f"SKU-{i:05d}" for i in range(args.skus)]
        key = setup_db(db, skus)
        drains, replays = [], []
        try:
            for rep in range(args.repeats):
                drains.append(run_relays(ctx, 1))  # fills args.events fresh rows, drains them
                log(f"  drain {rep + 1}: {drains[-1]['rate']:,.0f} rows/s")
                with ctx.relays(1, notify=False):
                    for mode in ("reprocess", "redeliver"):
                        replays.append(run_replay(ctx, mode))
                        r = replays[-1]
                        log(f"  {mode} {rep + 1}: {r['rate']:,.0f} events/s to the queues")
            api = ApiProcess(db, Path(tempfile.mkdtemp(prefix="bench-replay-")))
            setup = Setup(args, {"api": db}, [api], key, skus, None)  # type: ignore[arg-type]
            windows = []
            try:
                api.wait_ready()
                with ctx.relays(1, notify=False):
                    for rep in range(args.repeats):
                        for with_replay in (False, True):
                            tag = f"r{rep}-{int(with_replay)}"
                            windows.append(ingest(setup, ctx, args.clients, with_replay, tag))
                            w = windows[-1]
                            log(f"  ingest, replay {with_replay}: p99 {w['p99']:.1f} ms")
            finally:
                api.stop()
        finally:
            ctx.engine.dispose()
    drain_rate = med([d["rate"] for d in drains])
    rows = []
    for mode in ("reprocess", "redeliver"):
        mine = [r for r in replays if r["mode"] == mode]
        rate = med([r["rate"] for r in mine])
        rows.append(
            [
                mode,
                f"{mine[0]['n']:,}",
                runs([r["release_rate"] for r in mine]),
                runs([r["rate"] for r in mine]),
                f"{rate / drain_rate:.0%}",
                f"{med([r['plan_s'] for r in mine]):.1f}",
            ]
        )
    print(
        table(
            ["replay", "events", "released/s", "to the queues/s", "vs drain", "plan s"],
            rows,
            f"replay of {args.events:,} events; the relay drains fresh rows at "
            f"{runs([d['rate'] for d in drains])}/s",
        )
    )
    ingest_rows = []
    for with_replay in (False, True):
        mine = [w for w in windows if w["replay"] is with_replay]
        ingest_rows.append(
            [
                "during a replay" if with_replay else "alone",
                runs([w["rate"] for w in mine]),
                f"{med([w['p50'] for w in mine]):.1f}",
                f"{med([w['p99'] for w in mine]):.1f}",
                sum(sum(w["errors"].values()) for w in mine),
            ]
        )
    print(
        table(
            ["ingest", "orders/s", "p50 ms", "p99 ms", "errors"],
            ingest_rows,
            f"{args.clients} clients, {args.seconds:g} s",
        )
    )
    print(f"total time {time.monotonic() - started:.0f} s")
    report.update(drains=drains, replays=replays, ingest=windows)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
