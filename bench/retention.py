"""Outbox retention benchmark: re-checks the decision written down in docs/architecture.md
("Retention: plain tables, pruned in batches") with the one comparison behind it.

    .venv/bin/python -m bench.retention [--rows EVENTS] [--days D] [--batch EVENTS[,EVENTS]]
                                        [--writers W] [--baseline S] [--json FILE]

In a scratch database (migrated, always dropped) the outbox's two tables in two designs:
B, the product's own (public schema), and A, ``design_a``: the same columns (LIKE the
product's tables) range-partitioned by day on ``created_at``, so every unique key gains
``created_at`` and the foreign key becomes ``(event_id, created_at)``. Each simulated day
gets --rows / --days events of 4 deliveries (1 event in 199 has a dead delivery: a row
retention must keep), and a relay process per design marks new rows published and applied.

Then one prune round per day, oldest first, A and B alternating: --writers processes
insert events (one transaction each: the event and its deliveries) for --baseline seconds
— the same-run baseline — and keep inserting while the oldest day is pruned. A: lock both
parents, DROP the day's deliveries partition, DETACH and DROP its events partition (the
foreign key forbids a plain DROP). B: batches of --batch events whose deliveries are all
terminal, their deliveries deleted first, then the events (one transaction per batch).
Reported per round: the prune's duration, the insert rate and latency during it against
the baseline, and what was kept. Figures compare within one run only.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import time
import uuid
import zlib
from array import array
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from bench.common import log, med, pct, raw_dsn, scratch, table, terminate_on_sigterm

DESTINATIONS = ("erp", "wms", "crm", "channel:shopify")
TERMINAL = "('applied', 'superseded')"
SCHEMAS = {"A": "design_a", "B": "public"}  # B: the product's own tables, migrated
DEAD_EVERY = 199

# Design A: the product's columns and checks (LIKE its tables), range-partitioned by day. A
# partitioned table's unique keys must hold the partition key, so event ids and sequences
# are unique only within a day, and the foreign key carries created_at.
DDL_A = """
CREATE TABLE outbox_events (LIKE public.outbox_events INCLUDING DEFAULTS,
    PRIMARY KEY (id, created_at), UNIQUE (event_id, created_at)) PARTITION BY RANGE (created_at);
CREATE TABLE outbox_deliveries (LIKE public.outbox_deliveries INCLUDING DEFAULTS
    INCLUDING CONSTRAINTS, PRIMARY KEY (id, created_at), UNIQUE (event_id, destination, created_at),
    UNIQUE (destination, aggregate_type, aggregate_id, sequence, created_at))
    PARTITION BY RANGE (created_at);
CREATE INDEX ON outbox_events (aggregate_type, aggregate_id, id);
CREATE INDEX ON outbox_events (created_at);
CREATE INDEX ON outbox_deliveries (destination, status)
    WHERE status IN ('waiting', 'parked', 'dead');
CREATE INDEX ON outbox_deliveries (partition, id) WHERE published_at IS NULL;
"""
FK_A = """ALTER TABLE outbox_deliveries ADD FOREIGN KEY (event_id, created_at)
    REFERENCES outbox_events (event_id, created_at) ON DELETE CASCADE"""
EV_INSERT = (
    "INSERT INTO outbox_events (event_id, event_type, event_version, aggregate_type,"
    " aggregate_id, aggregate_version, partition, channel, correlation_id, traceparent,"
    " occurred_at, created_at, payload) VALUES (" + ", ".join(["%s"] * 13) + ")"
)
DL_INSERT = (
    "INSERT INTO outbox_deliveries (event_id, destination, aggregate_type, aggregate_id,"
    " partition, sequence, created_at) VALUES "
    + ", ".join(["(%s, %s, %s, %s, %s, %s, %s)"] * len(DESTINATIONS))
)
PAYLOAD = {
    "status": "allocated",
    "currency": "EUR",
    "lines": [
        {"sku": "TEE-M-BLK", "quantity": 2, "unit_price": "19.90", "location": "WH-EAST"},
        {"sku": "CAP-ONE-RED", "quantity": 1, "unit_price": "12.00", "location": "STORE-LIS"},
    ],
    "totals": {"grand_total": "66.98", "tax": "11.91", "shipping": "4.90"},
    "shipping_address": {"line1": "Rua Augusta 1", "city": "Lisboa", "country": "PT"},
}
# A day's rows at once, already applied (1 in DEAD_EVERY events has a dead crm delivery).
SQL_FILL = f"""
WITH src AS (
    SELECT i, gen_random_uuid() AS ev_id, 'ord-' || (i / 3) AS agg, i %% 3 + 1 AS ver,
           %(day)s::timestamptz + (i - %(lo)s) * %(step)s * interval '1 second' AS ts
    FROM generate_series(%(lo)s::int, %(hi)s::int - 1) AS i
), ev AS (
    INSERT INTO outbox_events (event_id, event_type, event_version, aggregate_type,
        aggregate_id, aggregate_version, partition, channel, occurred_at, created_at, payload)
    SELECT ev_id, 'order.allocated', 1, 'order', agg, ver, abs(hashtext(agg)) %% 16, 'shopify',
           ts, ts, %(payload)s::jsonb || jsonb_build_object('order_id', agg)
    FROM src RETURNING 1
)
INSERT INTO outbox_deliveries (event_id, destination, aggregate_type, aggregate_id, partition,
    sequence, status, published_at, applied_at, attempts, created_at)
SELECT s.ev_id, dest, 'order', s.agg, abs(hashtext(s.agg)) %% 16, s.ver,
       CASE WHEN dest = 'crm' AND s.i %% {DEAD_EVERY} = 0 THEN 'dead' ELSE 'applied' END,
       s.ts, s.ts, 1, s.ts
FROM src s CROSS JOIN unnest(ARRAY['erp', 'wms', 'crm', 'channel:shopify']) AS u(dest)
WHERE (SELECT count(*) FROM ev) > 0"""
SQL_RELAY = """
WITH c AS (SELECT id{key} FROM outbox_deliveries WHERE published_at IS NULL
           ORDER BY partition, id LIMIT 500 FOR UPDATE SKIP LOCKED)
UPDATE outbox_deliveries d
SET published_at = now(), applied_at = now(), updated_at = now(), status = 'applied'
FROM c WHERE d.id = c.id{join}"""
# One batch of B's prune: events older than the cutoff whose deliveries are all terminal,
# keyset on (created_at, id); their deliveries first (re-checking the status), then them.
SQL_B_DELIVERIES = f"""
WITH cand AS (
    SELECT e.id, e.event_id, e.created_at FROM outbox_events e
    WHERE e.created_at < %(cutoff)s AND (e.created_at, e.id) > (%(after_ts)s, %(after_id)s)
      AND NOT EXISTS (SELECT 1 FROM outbox_deliveries d
                      WHERE d.event_id = e.event_id AND d.status NOT IN {TERMINAL})
    ORDER BY e.created_at, e.id LIMIT %(batch)s
), gone AS (
    DELETE FROM outbox_deliveries d USING cand c
    WHERE d.event_id = c.event_id AND d.status IN {TERMINAL} RETURNING 1
), last AS (SELECT created_at, id FROM cand ORDER BY created_at DESC, id DESC LIMIT 1)
SELECT (SELECT array_agg(event_id) FROM cand), (SELECT created_at FROM last),
       (SELECT id FROM last), (SELECT count(*) FROM gone)"""
SQL_B_EVENTS = """
DELETE FROM outbox_events e WHERE e.event_id = ANY(%s)
  AND NOT EXISTS (SELECT 1 FROM outbox_deliveries d WHERE d.event_id = e.event_id)"""


def _connect(db: str, schema: str, *, prepare: bool = True) -> psycopg.Connection[Any]:
    """Statements prepared at once (the writers' and the relay's), unless told not to."""
    return psycopg.connect(
        raw_dsn(db),
        autocommit=True,
        options=f"-c search_path={schema}",
        prepare_threshold=0 if prepare else None,
    )


def _writer(db: str, schema: str, tag: str, ts: str, ready: Any, stop: Any, out: Any) -> None:
    """Insert events, one transaction each, until stopped; report (start, duration) pairs."""
    try:
        conn = _connect(db, schema)
        base = datetime.fromisoformat(ts)
        starts, durations = array("d"), array("d")
        ready.put(os.getpid())
        i = 0
        while not stop.is_set():
            event_id, aggregate = uuid.uuid4(), f"ord-{tag}-{i // 3}"
            at = base + timedelta(milliseconds=i)
            part = zlib.crc32(aggregate.encode()) % 16
            event = (event_id, "order.allocated", 1, "order", aggregate, i % 3 + 1, part)
            event += ("shopify", event_id.hex, f"00-{event_id.hex}-{event_id.hex[:16]}-01")
            deliveries: list[Any] = []
            for destination in DESTINATIONS:
                deliveries += [event_id, destination, "order", aggregate, part, i % 3 + 1, at]
            t = time.monotonic()
            with conn.transaction():
                conn.execute(EV_INSERT, (*event, at, at, Jsonb({**PAYLOAD, "order_id": i})))
                conn.execute(DL_INSERT, deliveries)
            starts.append(t)
            durations.append(time.monotonic() - t)
            i += 1
        conn.close()
        out.put({"starts": starts.tobytes(), "durations": durations.tobytes()})
    except BaseException as error:  # reported, never a hung parent
        ready.put(os.getpid())
        out.put({"error": repr(error)})


def _relay(db: str, design: str, stop: Any) -> None:
    """Mark new deliveries published and applied, 500 at a time, until stopped."""
    key = ", created_at" if design == "A" else ""
    statement = SQL_RELAY.format(key=key, join=" AND d.created_at = c.created_at" if key else "")
    with _connect(db, SCHEMAS[design]) as conn:
        while not stop.is_set():
            if conn.execute(statement).rowcount <= 0:
                time.sleep(0.02)


class Bench:
    def __init__(self, args: argparse.Namespace, db: str) -> None:
        self.args, self.db = args, db
        self.ctx = mp.get_context("spawn")
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        self.t0 = today - timedelta(days=args.days)
        self.relay_stop = self.ctx.Event()
        self.relays: list[Any] = []
        self.rounds: list[dict[str, Any]] = []

    def day(self, d: int) -> datetime:
        return self.t0 + timedelta(days=d)

    def create(self) -> None:
        per_day = self.args.rows // self.args.days
        for design, schema in SCHEMAS.items():
            with _connect(self.db, schema, prepare=False) as conn:
                if design == "A":
                    conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
                    conn.execute(f"SET search_path = {schema}".encode())
                    conn.execute(DDL_A.encode())
                for d in range(self.args.days + 1 if design == "A" else 0):
                    for t in ("outbox_events", "outbox_deliveries"):
                        conn.execute(
                            sql.SQL(
                                "CREATE TABLE {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})"
                            ).format(
                                sql.Identifier(f"{t}_d{d}"),
                                sql.Identifier(t),
                                sql.Literal(self.day(d)),
                                sql.Literal(self.day(d + 1)),
                            )
                        )
                for d in range(self.args.days):
                    params = {"day": self.day(d), "lo": d * per_day, "hi": (d + 1) * per_day}
                    params.update(step=86_399 / per_day, payload=Jsonb(PAYLOAD))
                    conn.execute(SQL_FILL, params)
                if design == "A":  # after the fill: row-by-row checks made it ~5× slower
                    conn.execute(FK_A.encode())
                conn.execute("ANALYZE")
            log(f"design {design}: {self.args.days} days of {per_day:,} events × 5 rows")

    def start_relays(self) -> None:
        for design in SCHEMAS:
            process = self.ctx.Process(target=_relay, args=(self.db, design, self.relay_stop))
            process.start()
            self.relays.append(process)

    def stop_relays(self) -> None:
        self.relay_stop.set()
        for process in self.relays:
            process.join(10)
            if process.is_alive():
                process.terminate()

    def prune_a(self, d: int) -> dict[str, Any]:
        """One transaction: both parents locked in the writers' order (without the locks up
        front this deadlocks with them), the day's partitions dropped."""
        with _connect(self.db, SCHEMAS["A"], prepare=False) as conn, conn.transaction():
            conn.execute("LOCK TABLE outbox_events IN ACCESS EXCLUSIVE MODE")
            conn.execute("LOCK TABLE outbox_deliveries IN ACCESS EXCLUSIVE MODE")
            part = sql.Identifier(f"outbox_deliveries_d{d}")
            count = sql.SQL("SELECT count(*) FROM {} WHERE status NOT IN " + TERMINAL)
            kept = conn.execute(count.format(part)).fetchone()[0]  # type: ignore[index]
            conn.execute(sql.SQL("DROP TABLE {}").format(part))
            events = sql.Identifier(f"outbox_events_d{d}")
            conn.execute(sql.SQL("ALTER TABLE outbox_events DETACH PARTITION {}").format(events))
            conn.execute(sql.SQL("DROP TABLE {}").format(events))
        # A real prune would stop at a non-terminal row; these are destroyed.
        return {"detail": f"non-terminal destroyed {kept}", "kept": 0}

    def prune_b(self, d: int, batch: int) -> dict[str, Any]:
        after: tuple[datetime, int] = (datetime(1970, 1, 1, tzinfo=UTC), 0)
        batch_ms: list[float] = []
        with _connect(self.db, SCHEMAS["B"]) as conn:
            while True:
                t = time.monotonic()
                with conn.transaction():
                    params = {"cutoff": self.day(d + 1), "batch": batch}
                    params.update(after_ts=after[0], after_id=after[1])
                    ids, last_ts, last_id, _ = conn.execute(SQL_B_DELIVERIES, params).fetchone()
                    if not ids:
                        break
                    conn.execute(SQL_B_EVENTS, (ids,))
                batch_ms.append((time.monotonic() - t) * 1e3)
                after = (last_ts, last_id)
            kept = conn.execute(
                "SELECT count(*) FROM outbox_deliveries WHERE created_at < %s",
                (self.day(d + 1),),
            ).fetchone()[0]  # type: ignore[index]
        detail = f"{len(batch_ms)} × p50 {med(batch_ms):.0f} / max {max(batch_ms):.0f} ms"
        return {"detail": f"batches of {batch}: {detail}", "kept": kept}

    def prune_round(self, design: str, d: int, batch: int) -> None:
        """Writers insert (the baseline), then keep inserting while day `d` is pruned."""
        ready, out, stop = self.ctx.Queue(), self.ctx.Queue(), self.ctx.Event()
        ts = (self.day(self.args.days) + timedelta(hours=1)).isoformat()
        writers = [
            self.ctx.Process(
                target=_writer,
                args=(self.db, SCHEMAS[design], f"{d}{design}{k}", ts, ready, stop, out),
            )
            for k in range(self.args.writers)
        ]
        for w in writers:
            w.start()
        for _ in writers:
            ready.get(timeout=60)
        go = time.monotonic()
        time.sleep(self.args.baseline)
        start = time.monotonic()
        pruned = self.prune_a(d) if design == "A" else self.prune_b(d, batch)
        end = time.monotonic()
        time.sleep(max(0.0, start + 0.5 - end) + 0.3)  # a window of at least 0.5 s
        stop.set()
        results = [out.get(timeout=120) for _ in writers]
        for w in writers:
            w.join(30)
        if errors := [r["error"] for r in results if "error" in r]:
            raise RuntimeError(f"a writer failed: {errors[0]}")
        samples: list[tuple[float, float]] = []
        for r in results:
            s, t = array("d"), array("d")
            s.frombytes(r["starts"])
            t.frombytes(r["durations"])
            samples += zip(s, t, strict=True)
        window_end = max(end, start + 0.5)
        base = [t for s, t in samples if s >= go + 0.5 and s + t <= start]
        during = [t for s, t in samples if s < window_end and s + t > start]
        done = sum(1 for s, t in samples if start <= s + t <= window_end)
        rec = {
            "design": design,
            "day": d,
            "prune_ms": (end - start) * 1e3,
            "base_tps": len(base) / (start - go - 0.5),
            "during_tps": done / (window_end - start),
            "base_p99": pct(base, 99) * 1e3,
            "during_p99": pct(during, 99) * 1e3,
            "during_max": max(during, default=float("nan")) * 1e3,
            **pruned,
        }
        self.rounds.append(rec)
        log(
            f"prune day {d} {design}: {rec['prune_ms']:,.0f} ms; inserts {rec['base_tps']:,.0f}"
            f" → {rec['during_tps']:,.0f} tx/s, worst {rec['during_max']:,.0f} ms"
        )

    def report(self) -> str:
        rows = [
            [
                {"A": "A daily partitions, DETACH/DROP", "B": "B plain tables, batched DELETE"}[
                    r["design"]
                ],
                r["day"],
                f"{r['prune_ms']:,.0f}",
                r["detail"],
                f"{r['base_tps']:,.0f}",
                f"{r['during_tps']:,.0f}",
                f"{r['during_tps'] / r['base_tps']:.2f}",
                f"{r['base_p99']:.1f} / {r['during_p99']:.1f}",
                f"{r['during_max']:,.0f}",
                r["kept"],
            ]
            for r in self.rounds
        ]
        headers = ["design", "day", "prune ms", "detail", "base tx/s", "prune tx/s", "ratio"]
        headers += ["p99 base / prune ms", "worst insert ms", "rows kept"]
        per_day = self.args.rows // self.args.days * 5
        title = f"Pruning one day ({per_day:,} rows) under {self.args.writers} writers and a relay"
        summary = [
            [
                design,
                f"{med([r['prune_ms'] for r in rs]):,.0f}",
                f"{med([r['during_tps'] / r['base_tps'] for r in rs]):.2f}",
                f"{med([r['during_max'] for r in rs]):,.0f}",
            ]
            for design in SCHEMAS
            if (rs := [r for r in self.rounds if r["design"] == design])
        ]
        return (
            table(headers, rows, title)
            + "\n"
            + table(["design", "prune ms", "tx/s ratio", "worst insert ms"], summary, "Medians")
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.retention", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--rows", type=int, default=30_000, help="events a design (5 rows each)")
    parser.add_argument("--days", type=int, default=5, help="simulated days: days-1 rounds")
    parser.add_argument("--batch", default="1000", help="events per batch of B (list: cycled)")
    parser.add_argument("--writers", type=int, default=2)
    parser.add_argument("--baseline", type=float, default=2.0, help="seconds before each prune")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    batches = [int(b) for b in args.batch.split(",") if b.strip()]
    if args.days < 2 or not batches:
        parser.error("--days must be at least 2 and --batch name a size")
    started = time.monotonic()
    with terminate_on_sigterm(), scratch("ordersync_bench_retention") as db:
        bench = Bench(args, db)
        try:
            bench.create()
            bench.start_relays()
            for d in range(args.days - 1):
                for design in ("A", "B") if d % 2 == 0 else ("B", "A"):
                    bench.prune_round(design, d, batches[d // 2 % len(batches)])
        finally:
            bench.stop_relays()
    print(bench.report())
    print(f"total {time.monotonic() - started:.0f} s, {os.cpu_count()} CPUs")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "rounds": bench.rounds}, f, indent=1, default=str)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
