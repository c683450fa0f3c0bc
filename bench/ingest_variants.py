"""What would the ingest suggestions buy? The API with candidate changes patched in.

    .venv/bin/python -m bench.ingest_variants [--seconds S] [--clients 8]
                                              [--variants base,multirow,chcache,noping,all]

An experiment beside bench/ingest.py, not a product change: each variant starts
`ordersync api` in its own process with monkeypatches applied before the CLI runs,
against the same scratch database, and is measured at the same concurrency,
interleaved with the raw baseline (plain psycopg, same rows) so machine noise
hits all of them:

* multirow: every executemany INSERT (order lines, reservations, outbox sequences,
  events, deliveries) is sent as ONE multi-row INSERT statement (rendered once per
  row count and cached) instead of psycopg's pipelined executemany; what the
  writer's comment intends ("insertmanyvalues"), which SQLAlchemy's psycopg 3
  dialect only does for INSERT … RETURNING;
* chcache: the active channel list (one SELECT per order) is cached for 5 s;
* noping: no pool pre-ping (one `;` round trip per checkout);
* all: the three together.

Figures: orders/s, API CPU µs per order, ratio to the raw rate of the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import ingest

PATCHES = ("multirow", "chcache", "noping")
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def apply_patches(names: list[str]) -> None:
    """Monkeypatch the product in this process (the API process of a variant)."""
    import sqlalchemy as sa
    from sqlalchemy import event

    import ops.bootstrap
    from adapters.db import registry

    if "chcache" in names:
        original = registry.active_channel_names
        cache: dict[str, tuple[list[str], float]] = {}

        def cached(conn: sa.Connection) -> list[str]:
            hit = cache.get("names")
            if hit and hit[1] > time.monotonic():
                return hit[0]
            names_ = original(conn)
            cache["names"] = (names_, time.monotonic() + 5.0)
            return names_

        registry.active_channel_names = cached  # type: ignore[assignment]

    make_engine = ops.bootstrap.make_engine

    def patched_engine(url: str, **kw: Any) -> sa.Engine:
        engine = make_engine(url, **kw)
        if "noping" in names:
            engine.pool._pre_ping = False  # type: ignore[attr-defined]
        if "multirow" in names:
            rendered: dict[tuple[str, int], str] = {}

            @event.listens_for(engine, "do_executemany")
            def _multirow(cursor: Any, statement: str, parameters: Any, context: Any) -> Any:
                if (
                    not statement.startswith("INSERT")
                    or " RETURNING " in statement
                    or not isinstance(parameters[0], dict)
                ):
                    return None  # the driver's executemany
                n = len(parameters)
                sql = rendered.get((statement, n))
                if sql is None:
                    head, _, row = statement.partition(" VALUES ")
                    rows = [_PLACEHOLDER.sub(rf"%(\1__{i})s", row) for i in range(n)]
                    sql = rendered[(statement, n)] = f"{head} VALUES {', '.join(rows)}"
                flat = {f"{k}__{i}": v for i, p in enumerate(parameters) for k, v in p.items()}
                cursor.execute(sql, flat)
                return True

        return engine

    ops.bootstrap.make_engine = patched_engine  # type: ignore[assignment]


def _patched_command(patches: list[str]) -> list[str]:
    return [sys.executable, "-m", "bench.ingest_variants", "serve", ",".join(patches) or "-"]


def start_api(db: str, log_dir: Path, index: int, patches: list[str]) -> ingest.ApiProcess:
    original = ingest.ordersync_command
    ingest.ordersync_command = lambda: _patched_command(patches)  # type: ignore[assignment]
    try:
        return ingest.ApiProcess(db, log_dir, index)
    finally:
        ingest.ordersync_command = original  # type: ignore[assignment]


def serve(argv: list[str]) -> int:
    patches = [p for p in argv[0].split(",") if p and p != "-"]
    apply_patches(patches)
    from ops.cli import main

    main(argv[1:])
    return 0


def run(argv: list[str] | None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.ingest_variants")
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--warmup", type=float, default=1.0)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--skus", type=int, default=200)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--variants", default="base,multirow,chcache,noping,all")
    args = p.parse_args(argv)
    variants = [v for v in args.variants.split(",") if v]
    for v in variants:
        if v not in ("base", "all", *PATCHES):
            p.error(f"unknown variant {v}")
    skus = ingest.sku_names(args.skus)
    run_id = f"{os.getpid()}_{int(time.time()) % 100000}"
    dbs = {"api": f"bench_variants_api_{run_id}", "raw": f"bench_variants_raw_{run_id}"}
    log_dir = Path(tempfile.mkdtemp(prefix="bench-variants-"))
    apis: dict[str, ingest.ApiProcess] = {}
    try:
        for db in dbs.values():
            ingest.create_db(db)
        key = ingest.setup_db(dbs["api"], skus)
        ingest.setup_db(dbs["raw"], skus)
        for i, v in enumerate(variants):
            patches = [] if v == "base" else list(PATCHES) if v == "all" else [v]
            apis[v] = start_api(dbs["api"], log_dir, i, patches)
        for a in apis.values():
            a.wait_ready()
        first = next(iter(apis.values()))
        template = ingest.read_template(dbs["api"], ingest.post_template_order(first, key, skus))
        writer = ingest.RawWriter(template)
        print(f"product at {ingest.product_revision()}; {args.clients} clients", flush=True)
        results: dict[str, list[tuple[float, float]]] = {v: [] for v in ["raw", *variants]}
        for rep in range(args.repeats):
            order = ["raw", *variants]
            order = order[rep % len(order) :] + order[: rep % len(order)]
            for v in order:
                tag = f"v{run_id}-{rep}-{v}"
                if v == "raw":
                    w = ingest.run_raw(
                        dbs["raw"],
                        writer,
                        skus,
                        args.clients,
                        args.seconds,
                        args.warmup,
                        False,
                        tag,
                        {"bench": lambda: [os.getpid()]},
                    )
                    cpu = w.cpu_us_per_order("bench")
                else:
                    pid = apis[v].pid
                    w = ingest.run_api(
                        apis[v],
                        dbs["api"],
                        key,
                        skus,
                        args.clients,
                        args.seconds,
                        args.warmup,
                        tag,
                        {"api": lambda pid=pid: [pid]},
                    )
                    cpu = w.cpu_us_per_order("api")
                results[v].append((w.rate, cpu))
                errors = f" errors {dict(w.errors)}" if w.errors else ""
                print(
                    f"run {rep + 1} {v:<9} {w.rate:7,.0f} orders/s  p50 {w.pct(0.5):6.1f} ms"
                    f"  CPU {cpu:6,.0f} µs/order{errors}",
                    flush=True,
                )
        raw = statistics.median(r for r, _ in results["raw"])
        base = statistics.median(r for r, _ in results[variants[0]]) if variants else 0
        print()
        print("| variant | orders/s | vs raw | vs base | API CPU µs/order |")
        print("|---|---:|---:|---:|---:|")
        print(f"| raw (plain psycopg) | {raw:,.0f} | 100% | | |")
        for v in variants:
            rate = statistics.median(r for r, _ in results[v])
            cpu = statistics.median(c for _, c in results[v])
            print(
                f"| {v} | {rate:,.0f} | {rate / raw * 100:.0f}% | "
                f"{(rate / base - 1) * 100:+.0f}% | {cpu:,.0f} |"
            )
        return 0
    finally:
        for a in apis.values():
            a.stop()
        for db in dbs.values():
            with contextlib.suppress(Exception):
                ingest.drop_db(db)
        shutil.rmtree(log_dir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:
        return serve(argv[1:])
    return run(argv)


if __name__ == "__main__":
    raise SystemExit(main())
