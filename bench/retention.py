"""Outbox retention benchmark: daily partitions + DROP (A) vs plain tables + batched DELETE (B).

    .venv/bin/python -m bench.retention [--rows EVENTS] [--batch EVENTS] [--days D]
                                        [--writers W] [--json FILE]

What it does, in one run, in a scratch database it creates and always drops
(ordersync_bench_retention_<random>):

* two schemas holding the same two tables, ``outbox_events`` and
  ``outbox_deliveries`` (column names and types copied from outbox/tables.py):
  ``design_a`` range-partitioned by day on ``created_at`` (so every unique key
  and the primary keys gain ``created_at``, and the foreign key becomes
  ``(event_id, created_at)``), ``design_b`` exactly as outbox/tables.py;
* (only with ``--tx-events`` < ``--rows``: the rest of each day is bulk-filled
  set-wise first, rows already applied, not a measured figure; the foreign keys
  are added after that fill);
* load: ``--rows`` events over ``--days`` simulated days, each event in its own
  transaction with its 4 deliveries (BEGIN / INSERT event / one multi-row INSERT
  of the deliveries / COMMIT), ``--writers`` processes, while a relay process
  per design marks rows published + applied (``FOR UPDATE SKIP LOCKED LIMIT
  500`` on the partial index). 1 event in 199 has a ``dead`` delivery (a
  non-terminal row that retention must not lose). Days are loaded A/B
  interleaved, so machine noise hits both;
* point lookups the actors do (a delivery by ``(event_id, destination)``), on
  both designs, interleaved;
* prune rounds, one simulated day each, oldest first, A and B interleaved: the
  writers insert into the current day for a baseline window, then the prune runs
  while they keep inserting; insert tx/s and p50/p99/max latency during the
  prune are compared with the baseline of the same window. Variants (see
  ROUNDS): A "fk_drop" = lock both parents, check the day has no non-terminal
  delivery, DROP the deliveries partition, DETACH + DROP the events partition
  (the foreign key forbids a plain DROP); then A's foreign key is dropped and A
  "nofk_drop" / "nofk_detach_concurrently" run; A while a 1 s reader
  transaction is open (with and without lock_timeout). B "batched" = batches of
  ``--batch`` events whose deliveries are all terminal: their deliveries deleted
  first, then the events (two statements, one transaction per batch, keyset on
  (created_at, id)); B "cascade" (events deleted, ON DELETE CASCADE removes the
  deliveries); B "naive" (deliveries by created_at + status LIMIT n, then the
  orphaned events); B while the reader is open;
* table + index sizes, n_tup_del and n_dead_tup (pg_stat_user_tables) before
  and after each prune and after the VACUUM that follows each round.

Figures are comparable only within one run; the ratios are the result.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import secrets
import sys
import threading
import time
import uuid
import zlib
from array import array
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.types.json import Jsonb

from bench.common import med, pct

TERMINAL = ("applied", "superseded")
TERMINAL_SQL = "('applied', 'superseded')"
DESTINATIONS = ("erp", "wms", "crm", "channel:shopify")
SCHEMAS = {"A": "design_a", "B": "design_b"}
DAY = 86400.0
DEAD_EVERY = 199  # one event in DEAD_EVERY has a dead (non-terminal) crm delivery

# --------------------------------------------------------------------------- DDL

_EVENT_COLUMNS = """
    id BIGSERIAL NOT NULL,
    event_id UUID NOT NULL,
    event_type VARCHAR(64) NOT NULL,
    event_version SMALLINT NOT NULL,
    aggregate_type VARCHAR(32) NOT NULL,
    aggregate_id VARCHAR(128) NOT NULL,
    aggregate_version INTEGER NOT NULL,
    partition SMALLINT NOT NULL,
    channel VARCHAR(64),
    correlation_id VARCHAR(64),
    causation_id VARCHAR(64),
    traceparent VARCHAR(64),
    tracestate VARCHAR(512),
    occurred_at TIMESTAMP WITH TIME ZONE NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    payload JSONB NOT NULL,"""

_DELIVERY_COLUMNS = """
    id BIGSERIAL NOT NULL,
    event_id UUID NOT NULL,
    destination VARCHAR(80) NOT NULL,
    aggregate_type VARCHAR(32) NOT NULL,
    aggregate_id VARCHAR(128) NOT NULL,
    partition SMALLINT NOT NULL,
    sequence INTEGER NOT NULL,
    generation INTEGER DEFAULT '0' NOT NULL,
    status VARCHAR(16) DEFAULT 'pending' NOT NULL,
    coalesce_key VARCHAR(160),
    published_at TIMESTAMP WITH TIME ZONE,
    applied_at TIMESTAMP WITH TIME ZONE,
    attempts INTEGER DEFAULT '0' NOT NULL,
    last_error TEXT,
    blocked_by UUID,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,"""

_STATUS_CHECK = (
    "CONSTRAINT ck_delivery_status CHECK (status IN "
    "('pending', 'published', 'applied', 'waiting', 'parked', 'superseded', 'dead'))"
)

_INDEXES = """
CREATE INDEX ix_outbox_events_aggregate ON outbox_events (aggregate_type, aggregate_id, id);
CREATE INDEX ix_outbox_events_created_at ON outbox_events (created_at);
CREATE INDEX ix_deliveries_attention ON outbox_deliveries (destination, status)
    WHERE status IN ('waiting', 'parked', 'dead');
CREATE INDEX ix_deliveries_unpublished ON outbox_deliveries (partition, id)
    WHERE published_at IS NULL;
CREATE INDEX ix_deliveries_aggregate ON outbox_deliveries (aggregate_type, aggregate_id);
"""

# Design B: outbox/tables.py as compiled for PostgreSQL.
DDL_B = f"""
CREATE TABLE outbox_events ({_EVENT_COLUMNS}
    PRIMARY KEY (id),
    UNIQUE (event_id)
);
CREATE TABLE outbox_deliveries ({_DELIVERY_COLUMNS}
    PRIMARY KEY (id),
    CONSTRAINT uq_delivery_event_destination UNIQUE (event_id, destination),
    CONSTRAINT uq_delivery_sequence UNIQUE (destination, aggregate_type, aggregate_id, sequence),
    {_STATUS_CHECK}
);
{_INDEXES}
"""

# Design A: the same columns, range-partitioned by day. PostgreSQL requires the
# partition key in every primary key / unique constraint, so event_id is only
# unique together with created_at, the per-(aggregate, destination) sequence is
# only unique within a day, and the foreign key has to carry created_at (a
# delivery's created_at must equal its event's created_at).
DDL_A = f"""
CREATE TABLE outbox_events ({_EVENT_COLUMNS}
    PRIMARY KEY (id, created_at),
    UNIQUE (event_id, created_at)
) PARTITION BY RANGE (created_at);
CREATE TABLE outbox_deliveries ({_DELIVERY_COLUMNS}
    PRIMARY KEY (id, created_at),
    CONSTRAINT uq_delivery_event_destination UNIQUE (event_id, destination, created_at),
    CONSTRAINT uq_delivery_sequence
        UNIQUE (destination, aggregate_type, aggregate_id, sequence, created_at),
    {_STATUS_CHECK}
) PARTITION BY RANGE (created_at);
{_INDEXES}
"""

# The foreign keys are added after the (unmeasured) bulk fill: row-by-row FK checks against a
# partitioned table made that fill ~5x slower in design A.
FK_B = """ALTER TABLE outbox_deliveries ADD FOREIGN KEY (event_id)
    REFERENCES outbox_events (event_id) ON DELETE CASCADE"""
FK_A = """ALTER TABLE outbox_deliveries ADD FOREIGN KEY (event_id, created_at)
    REFERENCES outbox_events (event_id, created_at) ON DELETE CASCADE"""

EV_INSERT = (
    "INSERT INTO outbox_events (event_id, event_type, event_version, aggregate_type, aggregate_id,"
    " aggregate_version, partition, channel, correlation_id, causation_id, traceparent, tracestate,"
    " occurred_at, created_at, payload) VALUES (" + ", ".join(["%s"] * 15) + ")"
)
_DL_ROW = "(" + ", ".join(["%s"] * 12) + ")"
DL_INSERT = (
    "INSERT INTO outbox_deliveries (event_id, destination, aggregate_type, aggregate_id, partition,"
    " sequence, status, published_at, attempts, last_error, coalesce_key, created_at) VALUES "
    + ", ".join([_DL_ROW] * len(DESTINATIONS))
)


def relay_sql(design: str) -> str:
    key = ", created_at" if design == "A" else ""
    join = " AND d.created_at = c.created_at" if design == "A" else ""
    return f"""
WITH c AS (
    SELECT id{key} FROM outbox_deliveries
    WHERE published_at IS NULL
    ORDER BY partition, id
    LIMIT 500
    FOR UPDATE SKIP LOCKED
)
UPDATE outbox_deliveries d
SET published_at = now(), applied_at = now(), updated_at = now(),
    status = CASE WHEN mod(d.id, 50) = 0 THEN 'superseded' ELSE 'applied' END
FROM c WHERE d.id = c.id{join}"""


# ----------------------------------------------------------------- row making


def _payload(agg: str, i: int) -> Jsonb:
    return Jsonb(
        {
            "order_id": agg,
            "status": "allocated",
            "version": i % 3 + 1,
            "currency": "EUR",
            "lines": [
                {
                    "sku": "TEE-M-BLK",
                    "quantity": 2,
                    "unit_price": "19.90",
                    "tax": "9.15",
                    "location": "WH-EAST",
                },
                {
                    "sku": "CAP-ONE-RED",
                    "quantity": 1,
                    "unit_price": "12.00",
                    "tax": "2.76",
                    "location": "STORE-LIS",
                },
            ],
            "totals": {"grand_total": "66.98", "tax": "11.91", "shipping": "4.90"},
            "customer": {"email": f"customer{i}@example.com", "name": "Ana Silva"},
            "shipping_address": {
                "line1": "Rua Augusta 1",
                "city": "Lisboa",
                "postal_code": "1100-048",
                "country": "PT",
            },
        }
    )


def _tx_params(tag: str, i: int, ts: datetime) -> tuple[tuple[Any, ...], list[Any]]:
    ev_id = uuid.uuid4()
    agg = f"ord-{tag}-{i // 3}"
    ver = i % 3 + 1
    part = zlib.crc32(agg.encode()) % 16
    ev = (
        ev_id,
        "order.allocated",
        1,
        "order",
        agg,
        ver,
        part,
        "shopify",
        ev_id.hex[:32],
        None,
        f"00-{ev_id.hex}-{ev_id.hex[:16]}-01",
        None,
        ts,
        ts,
        _payload(agg, i),
    )
    dl: list[Any] = []
    for dest in DESTINATIONS:
        dead = dest == "crm" and i % DEAD_EVERY == 0
        dl += [
            ev_id,
            dest,
            "order",
            agg,
            part,
            ver,
            "dead" if dead else "pending",
            ts if dead else None,
            5 if dead else 0,
            "HTTP 422 rejected" if dead else None,
            None,
            ts,
        ]
    return ev, dl


# -------------------------------------------------------------- child processes


def _connect(dsn: str, schema: str | None = None, **kw: Any) -> psycopg.Connection:
    opts = {"options": f"-c search_path={schema}"} if schema else {}
    return psycopg.connect(dsn, autocommit=True, **opts, **kw)


def _writer_main(
    dsn: str,
    schema: str,
    tag: str,
    spec: dict[str, Any],
    ready_q: Any,
    go: Any,
    stop: Any,
    out_q: Any,
) -> None:
    """Insert events, one transaction each (event + its deliveries); report timings."""
    try:
        conn = _connect(dsn, schema)
        conn.prepare_threshold = 0
        cur = conn.cursor()
        starts, durs = array("d"), array("d")
        ready_q.put(os.getpid())
        go.wait()
        t_begin = time.monotonic()
        if spec["mode"] == "load":
            lo, hi, step = spec["lo"], spec["hi"], spec["step"]
            day_start = datetime.fromisoformat(spec["day_start"])
            span = (DAY - 1.0) / max(1, hi - lo)
            indices = range(lo + spec["offset"], spec.get("stop", hi), step)
            for i in indices:
                ev, dl = _tx_params(tag, i, day_start + timedelta(seconds=(i - lo) * span))
                t = time.monotonic()
                with conn.transaction():
                    cur.execute(EV_INSERT, ev)
                    cur.execute(DL_INSERT, dl)
                starts.append(t)
                durs.append(time.monotonic() - t)
        else:
            base = datetime.fromisoformat(spec["ts"])
            i = 0
            while not stop.is_set():
                ev, dl = _tx_params(tag, i, base + timedelta(milliseconds=i))
                t = time.monotonic()
                with conn.transaction():
                    cur.execute(EV_INSERT, ev)
                    cur.execute(DL_INSERT, dl)
                starts.append(t)
                durs.append(time.monotonic() - t)
                i += 1
        out_q.put(
            {
                "pid": os.getpid(),
                "t_begin": t_begin,
                "t_end": time.monotonic(),
                "starts": starts.tobytes(),
                "durs": durs.tobytes(),
            }
        )
        conn.close()
    except BaseException as exc:  # report, never hang the parent
        ready_q.put(os.getpid())
        out_q.put({"pid": os.getpid(), "error": repr(exc)})


def _relay_main(dsn: str, design: str, stop: Any, out_q: Any) -> None:
    """Mark unpublished deliveries published + applied, 500 at a time, until stopped."""
    rows = 0
    busy = 0.0
    try:
        conn = _connect(dsn, SCHEMAS[design])
        stmt = relay_sql(design)
        while not stop.is_set():
            t = time.monotonic()
            n = conn.execute(stmt, prepare=True).rowcount
            if n > 0:
                rows += n
                busy += time.monotonic() - t
            else:
                time.sleep(0.02)
        conn.close()
        out_q.put({"design": design, "rows": rows, "busy_s": busy})
    except BaseException as exc:
        out_q.put({"design": design, "rows": rows, "busy_s": busy, "error": repr(exc)})


# ------------------------------------------------------------------- helpers


def log(msg: str) -> None:
    print(msg, flush=True)


class Bench:
    def __init__(self, args: argparse.Namespace, admin_dsn: str, dsn: str) -> None:
        self.args = args
        self.admin_dsn = admin_dsn
        self.dsn = dsn
        self.ctx = mp.get_context("spawn")
        self.days = args.days
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        self.t0 = today - timedelta(days=self.days)
        self.conn = _connect(dsn)
        self.relays: list[Any] = []
        self.relay_stop = self.ctx.Event()
        self.relay_q = self.ctx.Queue()
        self.children: list[Any] = []
        self.window_no = 0
        self.b_batched = 0
        self.results: dict[str, Any] = {"load": [], "lookups": [], "prunes": [], "vacuum": []}

    # -- schema ------------------------------------------------------------
    def day_start(self, d: int) -> datetime:
        return self.t0 + timedelta(days=d)

    def create_schema(self) -> None:
        for design, schema in SCHEMAS.items():
            self.conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
            with _connect(self.dsn, schema) as c:
                c.execute(DDL_A if design == "A" else DDL_B)
                if design == "A":
                    for d in range(self.days):
                        lo, hi = self.day_start(d), self.day_start(d + 1)
                        for t in ("outbox_events", "outbox_deliveries"):
                            c.execute(
                                sql.SQL(
                                    "CREATE TABLE {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})"
                                ).format(
                                    sql.Identifier(f"{t}_d{d}"),
                                    sql.Identifier(t),
                                    sql.Literal(lo),
                                    sql.Literal(hi),
                                )
                            )

    # -- processes ---------------------------------------------------------
    def start_relays(self) -> None:
        for design in SCHEMAS:
            p = self.ctx.Process(
                target=_relay_main,
                args=(self.dsn, design, self.relay_stop, self.relay_q),
                daemon=True,
            )
            p.start()
            self.relays.append(p)

    def stop_relays(self) -> dict[str, Any]:
        self.relay_stop.set()
        out = {}
        for _ in self.relays:
            try:
                r = self.relay_q.get(timeout=30)
                out[r["design"]] = r
            except Exception:
                pass
        for p in self.relays:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()
        self.relays = []
        return out

    def run_writers(
        self, design: str, specs: list[dict[str, Any]], tags: list[str], action: Any = None
    ) -> dict[str, Any]:
        """Start one writer per spec; for windows run baseline, then `action`, then a tail."""
        ready_q, out_q = self.ctx.Queue(), self.ctx.Queue()
        go, stop = self.ctx.Event(), self.ctx.Event()
        procs = []
        for spec, tag in zip(specs, tags, strict=True):
            p = self.ctx.Process(
                target=_writer_main,
                args=(self.dsn, SCHEMAS[design], tag, spec, ready_q, go, stop, out_q),
                daemon=True,
            )
            p.start()
            procs.append(p)
            self.children.append(p)
        for _ in procs:
            ready_q.get(timeout=60)
        t_go = time.monotonic()
        go.set()
        info: dict[str, Any] = {"t_go": t_go}
        if action is not None:
            time.sleep(self.args.baseline)
            info["ps"] = time.monotonic()
            info["prune"] = action()
            info["pe"] = time.monotonic()
            # the action may time the prune itself (excluding its own before/after probes)
            info["ps"] = info["prune"].pop("t_start", info["ps"])
            info["pe"] = info["prune"].pop("t_done", info["pe"])
            info["w_end"] = max(info["pe"], info["ps"] + 0.5)
            time.sleep(max(0.0, info["w_end"] - time.monotonic()) + 0.3)
            stop.set()
        outs = [out_q.get(timeout=600) for _ in procs]
        for p in procs:
            p.join(timeout=30)
            self.children.remove(p)
        errors = [o["error"] for o in outs if "error" in o]
        if errors:
            raise RuntimeError(f"writer failed: {errors[0]}")
        samples: list[tuple[float, float]] = []
        for o in outs:
            s, d = array("d"), array("d")
            s.frombytes(o["starts"])
            d.frombytes(o["durs"])
            samples.extend(zip(s, d, strict=True))
        info["samples"] = samples
        info["t_end"] = max(o["t_end"] for o in outs)
        return info

    # -- load ----------------------------------------------------------------
    def day_range(self, d: int) -> tuple[int, int, int]:
        """Event indices of day d: [lo, hi); [lo, tx_stop) go in one transaction each."""
        n = self.args.rows
        lo, hi = d * n // self.days, (d + 1) * n // self.days
        per_day = max(1, self.args.tx_events // self.days) if self.args.tx_events else hi - lo
        return lo, hi, min(hi, lo + per_day)

    def bulk_fill(self) -> None:
        """The part of each day past --tx-events, written set-wise (already applied)."""
        chunk = 5000
        for design, schema in SCHEMAS.items():
            t = time.monotonic()
            total = 0
            with _connect(self.dsn, schema) as c:
                for d in range(self.days):
                    lo, hi, stop = self.day_range(d)
                    span = (DAY - 1.0) / max(1, hi - lo)
                    for a in range(stop, hi, chunk):
                        b = min(hi, a + chunk)
                        c.execute(
                            SQL_BULK,
                            {
                                "a": a,
                                "b": b - 1,
                                "lo": lo,
                                "span": span,
                                "day_start": self.day_start(d),
                                "payload": _payload("x", 0),
                                "dead_every": DEAD_EVERY,
                            },
                        )
                        total += b - a
            if total:
                el = time.monotonic() - t
                log(
                    f"  bulk fill {design}: {total * 5:,} rows in {el:.1f}s"
                    " (set-wise INSERT … SELECT, rows already applied; not a measured figure)"
                )

    def load(self) -> None:
        w = self.args.writers
        for d in range(self.days):
            lo, hi, stop = self.day_range(d)
            for design in ("A", "B") if d % 2 == 0 else ("B", "A"):
                specs = [
                    {
                        "mode": "load",
                        "lo": lo,
                        "hi": hi,
                        "stop": stop,
                        "step": w,
                        "offset": k,
                        "day_start": self.day_start(d).isoformat(),
                    }
                    for k in range(w)
                ]
                info = self.run_writers(design, specs, ["L"] * w)
                el = info["t_end"] - info["t_go"]
                lat = [x[1] for x in info["samples"]]
                events = stop - lo
                rec = {
                    "design": design,
                    "day": d,
                    "events": events,
                    "rows": events * 5,
                    "elapsed_s": el,
                    "rows_per_s": events * 5 / el,
                    "tx_per_s": events / el,
                    "p50_ms": pct(lat, 50) * 1e3,
                    "p99_ms": pct(lat, 99) * 1e3,
                }
                self.results["load"].append(rec)
                log(
                    f"  load day {d} {design}: {events * 5:,} rows in {el:.1f}s = "
                    f"{rec['rows_per_s']:,.0f} rows/s ({rec['tx_per_s']:,.0f} tx/s), "
                    f"p50 {rec['p50_ms']:.2f} ms p99 {rec['p99_ms']:.2f} ms"
                )

    def wait_drained(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            left = sum(
                self.conn.execute(
                    sql.SQL(
                        "SELECT count(*) FROM {}.outbox_deliveries WHERE published_at IS NULL"
                    ).format(sql.Identifier(s))
                ).fetchone()[0]
                for s in SCHEMAS.values()
            )
            if left == 0:
                return
            time.sleep(0.2)
        raise RuntimeError("relay did not drain the outbox")

    # -- lookups -------------------------------------------------------------
    def lookups(self, n: int = 1500) -> None:
        last = self.day_start(self.days - 1)
        keys = {}
        for design, schema in SCHEMAS.items():
            keys[design] = self.conn.execute(
                sql.SQL(
                    "SELECT event_id, created_at FROM {}.outbox_events WHERE created_at >= %s"
                    " ORDER BY random() LIMIT %s"
                ).format(sql.Identifier(schema)),
                (last, n),
            ).fetchall()
        ops = [
            (
                "select by (event_id, destination)",
                "B",
                "SELECT status FROM outbox_deliveries WHERE event_id = %s AND destination = 'erp'",
                False,
            ),
            (
                "select by (event_id, destination)",
                "A",
                "SELECT status FROM outbox_deliveries WHERE event_id = %s AND destination = 'erp'",
                False,
            ),
            (
                "select by (event_id, destination, created_at)",
                "A",
                "SELECT status FROM outbox_deliveries WHERE event_id = %s AND destination = 'erp'"
                " AND created_at = %s",
                True,
            ),
            (
                "update by (event_id, destination)",
                "B",
                "UPDATE outbox_deliveries SET attempts = attempts + 1, updated_at = now()"
                " WHERE event_id = %s AND destination = 'wms'",
                False,
            ),
            (
                "update by (event_id, destination)",
                "A",
                "UPDATE outbox_deliveries SET attempts = attempts + 1, updated_at = now()"
                " WHERE event_id = %s AND destination = 'wms'",
                False,
            ),
            (
                "update by (event_id, destination, created_at)",
                "A",
                "UPDATE outbox_deliveries SET attempts = attempts + 1, updated_at = now()"
                " WHERE event_id = %s AND destination = 'wms' AND created_at = %s",
                True,
            ),
        ]
        acc: dict[tuple[str, str], list[float]] = {}
        for rep in range(2):
            for name, design, stmt, with_ts in ops if rep == 0 else ops[::-1]:
                with _connect(self.dsn, SCHEMAS[design]) as c:
                    c.prepare_threshold = 0
                    ks = keys[design]
                    for k in ks[:20]:  # warm up (prepare, cache)
                        c.execute(stmt, k if with_ts else k[:1])
                    t = time.monotonic()
                    for k in ks:
                        c.execute(stmt, k if with_ts else k[:1])
                    acc.setdefault((name, design), []).append(
                        (time.monotonic() - t) / len(ks) * 1e6
                    )
        for (name, design), us in acc.items():
            self.results["lookups"].append(
                {"op": name, "design": design, "us": med(us), "runs": us}
            )

    # -- stats ---------------------------------------------------------------
    def leaves(self, schema: str, table: str) -> list[str]:
        q = sql.SQL(
            "SELECT relid::regclass::text FROM pg_partition_tree({}::regclass) WHERE isleaf"
        ).format(sql.Literal(f"{schema}.{table}"))
        rows = [r[0] for r in self.conn.execute(q).fetchall()]
        return rows or [f"{schema}.{table}"]

    def measure(self, design: str) -> dict[str, Any]:
        schema = SCHEMAS[design]
        self.conn.execute("SELECT pg_stat_clear_snapshot()")
        out: dict[str, Any] = {}
        for short, table in (("ev", "outbox_events"), ("dl", "outbox_deliveries")):
            leaves = self.leaves(schema, table)
            r = self.conn.execute(
                "SELECT coalesce(sum(pg_table_size(c.oid)), 0),"
                " coalesce(sum(pg_indexes_size(c.oid)), 0),"
                " coalesce(sum(s.n_dead_tup), 0), coalesce(sum(s.n_tup_del), 0),"
                " coalesce(sum(s.n_live_tup), 0), coalesce(sum(s.autovacuum_count), 0)"
                " FROM unnest(%s::regclass[]) AS c(oid)"
                " LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid",
                (leaves,),
            ).fetchone()
            out[short] = {
                "table_b": int(r[0]),
                "index_b": int(r[1]),
                "dead": int(r[2]),
                "del": int(r[3]),
                "live": int(r[4]),
                "autovac": int(r[5]),
            }
        return out

    def stattuple(self, design: str) -> dict[str, int]:
        """pgstattuple over every heap of both tables: dead tuple bytes vs reusable free space."""
        schema = SCHEMAS[design]
        leaves = self.leaves(schema, "outbox_events") + self.leaves(schema, "outbox_deliveries")
        r = self.conn.execute(
            "SELECT sum(s.table_len), sum(s.dead_tuple_len), sum(s.free_space), sum(s.tuple_len)"
            " FROM unnest(%s::regclass[]) AS c(oid), LATERAL pgstattuple(c.oid) s",
            (leaves,),
        ).fetchone()
        return {
            "table_len": int(r[0]),
            "dead_len": int(r[1]),
            "free": int(r[2]),
            "live_len": int(r[3]),
        }

    def vacuum(self, design: str, label: str) -> dict[str, Any]:
        before = self.measure(design)
        with _connect(self.dsn, SCHEMAS[design]) as c:
            t = time.monotonic()
            c.execute("VACUUM outbox_deliveries, outbox_events")
            el = time.monotonic() - t
        time.sleep(0.6)
        after = self.measure(design)
        rec = {
            "design": design,
            "label": label,
            "vacuum_ms": el * 1e3,
            "before": before,
            "after": after,
            "stattuple_after": self.stattuple(design),
        }
        self.results["vacuum"].append(rec)
        return rec

    def day_counts(self, design: str, d: int) -> dict[str, int]:
        schema = SCHEMAS[design]
        lo, hi = self.day_start(d), self.day_start(d + 1)
        ev = self.conn.execute(
            sql.SQL(
                "SELECT count(*) FROM {}.outbox_events WHERE created_at >= %s AND created_at < %s"
            ).format(sql.Identifier(schema)),
            (lo, hi),
        ).fetchone()[0]
        dl, nt = self.conn.execute(
            sql.SQL(
                "SELECT count(*), count(*) FILTER (WHERE status NOT IN " + TERMINAL_SQL + ")"
                " FROM {}.outbox_deliveries WHERE created_at >= %s AND created_at < %s"
            ).format(sql.Identifier(schema)),
            (lo, hi),
        ).fetchone()
        return {"events": ev, "deliveries": dl, "non_terminal": nt}

    # -- prune actions -------------------------------------------------------
    def prune_a(self, d: int, variant: str, lock_timeout_ms: int | None) -> dict[str, Any]:
        """Drop day `d`'s partitions. Variants:

        fk_drop      one transaction: LOCK both parents ACCESS EXCLUSIVE in the writers' order
                     (events, then deliveries), check, DROP the deliveries partition, DETACH
                     the events partition (DROP of a referenced partition is refused; DETACH
                     checks the FK), DROP it. Without the up-front locks this deadlocks with
                     the writers (measured: the FK makes both DDLs lock the other table).
        nofk_drop    (after the FK is dropped) LOCK the deliveries parent, check the partition,
                     DROP it; then DROP the events partition: two transactions, one parent each.
        nofk_detach_concurrently  check, DETACH … CONCURRENTLY + DROP, for both tables.
        """
        ev_part, dl_part = f"outbox_events_d{d}", f"outbox_deliveries_d{d}"
        steps: dict[str, float] = {}
        failures: list[str] = []
        nt = -1
        attempts = 0
        t_all = time.monotonic()

        def ex(step: str, stmt: str, part: str | None = None) -> Any:
            t = time.monotonic()
            q = sql.SQL(stmt).format(sql.Identifier(part)) if part else sql.SQL(stmt)
            cur = c.execute(q)
            steps[step] = steps.get(step, 0.0) + time.monotonic() - t
            return cur

        def check() -> int:
            return ex(
                "check", "SELECT count(*) FROM {} WHERE status NOT IN " + TERMINAL_SQL, dl_part
            ).fetchone()[0]

        def in_tx(fn: Any) -> Any:
            nonlocal attempts
            while True:
                attempts += 1
                try:
                    with c.transaction():
                        if lock_timeout_ms:
                            c.execute(
                                sql.SQL("SET LOCAL lock_timeout = {}").format(
                                    sql.Literal(f"{lock_timeout_ms}ms")
                                )
                            )
                        return fn()
                except (psycopg.errors.LockNotAvailable, psycopg.errors.DeadlockDetected) as exc:
                    failures.append(type(exc).__name__)
                    if attempts >= 100:
                        raise
                    time.sleep(0.1 + 0.1 * secrets.randbelow(100) / 100)

        with _connect(self.dsn, SCHEMAS["A"]) as c:
            if variant == "fk_drop":

                def tx() -> int:
                    ex("lock_parents", "LOCK TABLE outbox_events IN ACCESS EXCLUSIVE MODE")
                    ex("lock_parents", "LOCK TABLE outbox_deliveries IN ACCESS EXCLUSIVE MODE")
                    n = check()  # a real prune would stop here if n > 0; the bench drops anyway
                    ex("drop_deliveries", "DROP TABLE {}", dl_part)
                    ex("detach_events", "ALTER TABLE outbox_events DETACH PARTITION {}", ev_part)
                    ex("drop_events", "DROP TABLE {}", ev_part)
                    return n

                nt = in_tx(tx)
            elif variant == "nofk_drop":

                def tx1() -> int:
                    # Lock the parent first, as DROP does: locking the old partition first
                    # (e.g. SHARE, to check it) deadlocks with the relay, whose query has no
                    # created_at and so locks every partition after the parent.
                    ex("lock_parent", "LOCK TABLE outbox_deliveries IN ACCESS EXCLUSIVE MODE")
                    n = check()
                    ex("drop_deliveries", "DROP TABLE {}", dl_part)
                    return n

                nt = in_tx(tx1)
                in_tx(lambda: ex("drop_events", "DROP TABLE {}", ev_part))
            elif variant == "nofk_detach_concurrently":
                nt = check()
                attempts = 1
                ex(
                    "detach_deliveries",
                    "ALTER TABLE outbox_deliveries DETACH PARTITION {} CONCURRENTLY",
                    dl_part,
                )
                ex("drop_deliveries", "DROP TABLE {}", dl_part)
                ex(
                    "detach_events",
                    "ALTER TABLE outbox_events DETACH PARTITION {} CONCURRENTLY",
                    ev_part,
                )
                ex("drop_events", "DROP TABLE {}", ev_part)
            else:
                raise ValueError(variant)
        return {
            "elapsed_s": time.monotonic() - t_all,
            "steps_ms": {k: v * 1e3 for k, v in steps.items()},
            "attempts": attempts,
            "failures": failures,
            "non_terminal_destroyed": nt,
        }

    def drop_fk_a(self) -> float:
        name = self.conn.execute(
            "SELECT conname FROM pg_constraint"
            " WHERE conrelid = 'design_a.outbox_deliveries'::regclass"
            " AND contype = 'f' AND conparentid = 0"
        ).fetchone()[0]
        t = time.monotonic()
        self.conn.execute(
            sql.SQL("ALTER TABLE design_a.outbox_deliveries DROP CONSTRAINT {}").format(
                sql.Identifier(name)
            )
        )
        return (time.monotonic() - t) * 1e3

    def prune_b(self, d: int, variant: str, batch: int) -> dict[str, Any]:
        cutoff = self.day_start(d + 1)
        batch_ms: list[float] = []
        del_ev = del_dl = 0
        t_all = time.monotonic()
        with _connect(self.dsn, SCHEMAS["B"]) as c:
            c.prepare_threshold = 0
            after_ts, after_id = datetime(1970, 1, 1, tzinfo=UTC), 0
            if variant == "batched":
                while True:
                    t = time.monotonic()
                    with c.transaction():
                        ids, last_ts, last_id, n_dl = c.execute(
                            SQL_B_DELIVERIES_FIRST,
                            {
                                "cutoff": cutoff,
                                "after_ts": after_ts,
                                "after_id": after_id,
                                "batch": batch,
                            },
                        ).fetchone()
                        if not ids:
                            break
                        n_ev = c.execute(SQL_B_EVENTS_AFTER, (ids,)).rowcount
                    batch_ms.append((time.monotonic() - t) * 1e3)
                    del_ev += n_ev
                    del_dl += n_dl
                    after_ts, after_id = last_ts, last_id
            elif variant == "cascade":
                while True:
                    t = time.monotonic()
                    with c.transaction():
                        cur = c.execute(
                            SQL_B_CASCADE,
                            {
                                "cutoff": cutoff,
                                "after_ts": after_ts,
                                "after_id": after_id,
                                "batch": batch,
                            },
                        )
                        rows = cur.fetchall()
                    if not rows:
                        break
                    batch_ms.append((time.monotonic() - t) * 1e3)
                    del_ev += len(rows)
                    after_ts, after_id = max((r[0], r[1]) for r in rows)
                del_dl = -1  # deleted by the cascade; counted from n_tup_del
            elif variant == "naive":
                for stmt, lim in (
                    (SQL_B_NAIVE_DELIVERIES, batch * len(DESTINATIONS)),
                    (SQL_B_NAIVE_EVENTS, batch),
                ):
                    while True:
                        t = time.monotonic()
                        n = c.execute(stmt, {"cutoff": cutoff, "lim": lim}).rowcount
                        if n <= 0:
                            break
                        batch_ms.append((time.monotonic() - t) * 1e3)
                        if stmt is SQL_B_NAIVE_EVENTS:
                            del_ev += n
                        else:
                            del_dl += n
            else:
                raise ValueError(variant)
            c.execute("SELECT pg_stat_force_next_flush()")
        return {
            "elapsed_s": time.monotonic() - t_all,
            "batches": len(batch_ms),
            "batch_p50_ms": med(batch_ms),
            "batch_max_ms": max(batch_ms, default=float("nan")),
            "deleted_events": del_ev,
            "deleted_deliveries": del_dl,
        }

    # -- prune rounds --------------------------------------------------------
    def prune_round(
        self,
        design: str,
        d: int,
        variant: str,
        reader_hold: float | None,
        lock_timeout_ms: int | None,
    ) -> None:
        self.window_no += 1
        batch = self.args.batch[0]
        label = variant
        if design == "B" and variant == "batched":
            batch = self.args.batch[self.b_batched % len(self.args.batch)]
            self.b_batched += 1
        if design == "B" and len(self.args.batch) > 1:
            label = f"{variant}(b={batch})"
        counts = self.day_counts(design, d)
        before = self.measure(design)
        w = self.args.writers
        ts = (self.day_start(self.days) - timedelta(hours=2)).isoformat()
        specs = [{"mode": "window", "ts": ts} for _ in range(w)]
        tags = [f"W{self.window_no}w{k}" for k in range(w)]
        reader_info: dict[str, Any] = {}

        def action() -> dict[str, Any]:
            rt = None
            if reader_hold:
                rt = self._start_reader(design, reader_hold, reader_info)
            sizes_before = self.measure(design)
            t_start = time.monotonic()
            if design == "A":
                res = self.prune_a(d, variant, lock_timeout_ms)
            else:
                res = self.prune_b(d, variant, batch)
            res["t_start"], res["t_done"] = t_start, time.monotonic()
            time.sleep(0.3)  # statistics flush of the pruning backend
            res["sizes_before"], res["sizes_after"] = sizes_before, self.measure(design)
            if rt is not None:
                rt.join()
            return res

        info = self.run_writers(design, specs, tags, action)
        time.sleep(0.6)  # let backends flush their statistics
        after = self.measure(design)
        st = self.stattuple(design)
        left = (
            self.day_counts(design, d)
            if design == "B"
            else {"events": 0, "deliveries": 0, "non_terminal": 0}
        )
        warm = 0.5
        base = [
            dur for s, dur in info["samples"] if s >= info["t_go"] + warm and s + dur <= info["ps"]
        ]
        base_span = info["ps"] - (info["t_go"] + warm)
        ws, we = info["ps"], info["w_end"]
        during = [dur for s, dur in info["samples"] if s < we and s + dur > ws]
        done_in = sum(1 for s, dur in info["samples"] if ws <= s + dur <= we)
        rec = {
            "design": design,
            "variant": label
            + (f"+reader{reader_hold:g}s" if reader_hold else "")
            + (f"+lock_timeout{lock_timeout_ms}ms" if lock_timeout_ms else ""),
            "day": d,
            "counts": counts,
            "left": left,
            "prune": info["prune"],
            "prune_ms": (info["pe"] - info["ps"]) * 1e3,
            "base_tps": len(base) / base_span,
            "during_tps": done_in / (we - ws),
            "base_p50": pct(base, 50) * 1e3,
            "base_p99": pct(base, 99) * 1e3,
            "base_max": max(base, default=float("nan")) * 1e3,
            "during_p50": pct(during, 50) * 1e3,
            "during_p99": pct(during, 99) * 1e3,
            "during_max": max(during, default=float("nan")) * 1e3,
            "during_n": len(during),
            "window_s": we - ws,
            "before": before,
            "after": after,
            "stattuple": st,
        }
        self.results["prunes"].append(rec)
        log(
            f"  prune day {d} {design} {rec['variant']}: {rec['prune_ms']:,.0f} ms; inserts "
            f"{rec['base_tps']:,.0f} -> {rec['during_tps']:,.0f} tx/s, "
            f"p99 {rec['base_p99']:.1f} -> "
            f"{rec['during_p99']:.1f} ms, max {rec['during_max']:.0f} ms; non-terminal in day "
            f"{counts['non_terminal']}, left {left['deliveries']}"
        )

    def _start_reader(self, design: str, hold: float, out: dict[str, Any]) -> threading.Thread:
        started = threading.Event()

        def run() -> None:
            with _connect(self.dsn, SCHEMAS[design]) as c:
                with c.transaction():
                    c.execute(
                        "SELECT count(*) FROM outbox_deliveries WHERE created_at >= %s",
                        (self.day_start(self.days - 1),),
                    ).fetchone()
                    started.set()
                    time.sleep(hold)
                    raise psycopg.Rollback()

        def guard() -> None:
            try:
                run()
            except Exception as exc:  # pragma: no cover - reported
                out["error"] = repr(exc)
            finally:
                started.set()

        th = threading.Thread(target=guard, daemon=True)
        th.start()
        started.wait(10)
        time.sleep(0.05)
        return th


SQL_B_DELIVERIES_FIRST = f"""
WITH cand AS (
    SELECT e.id, e.event_id, e.created_at FROM outbox_events e
    WHERE e.created_at < %(cutoff)s
      AND e.created_at >= %(after_ts)s AND (e.created_at, e.id) > (%(after_ts)s, %(after_id)s)
      AND NOT EXISTS (SELECT 1 FROM outbox_deliveries d
                      WHERE d.event_id = e.event_id AND d.status NOT IN {TERMINAL_SQL})
    ORDER BY e.created_at, e.id
    LIMIT %(batch)s
), gone AS (
    DELETE FROM outbox_deliveries d USING cand c
    WHERE d.event_id = c.event_id AND d.status IN {TERMINAL_SQL}
    RETURNING 1
), last AS (
    SELECT created_at, id FROM cand ORDER BY created_at DESC, id DESC LIMIT 1
)
SELECT (SELECT array_agg(event_id) FROM cand), (SELECT created_at FROM last),
       (SELECT id FROM last), (SELECT count(*) FROM gone)"""

# Bulk fill: the same rows as _tx_params (dead crm delivery every DEAD_EVERY events), already
# published + applied, written set-wise; the FK check sees the events of the same statement.
SQL_BULK = """
WITH src AS (
    SELECT i, gen_random_uuid() AS ev_id, 'ord-L-' || (i / 3) AS agg, i %% 3 + 1 AS ver,
           %(day_start)s::timestamptz + (i - %(lo)s) * %(span)s * interval '1 second' AS ts
    FROM generate_series(%(a)s::int, %(b)s::int) AS i
), ev AS (
    INSERT INTO outbox_events (event_id, event_type, event_version, aggregate_type, aggregate_id,
        aggregate_version, partition, channel, correlation_id, causation_id, traceparent,
        tracestate, occurred_at, created_at, payload)
    SELECT ev_id, 'order.allocated', 1, 'order', agg, ver, abs(hashtext(agg)) %% 16, 'shopify',
           replace(ev_id::text, '-', ''), NULL,
           '00-' || replace(ev_id::text, '-', '') || '-' || left(replace(ev_id::text, '-', ''), 16)
               || '-01',
           NULL, ts, ts,
           %(payload)s::jsonb || jsonb_build_object('order_id', agg, 'version', ver,
               'customer', jsonb_build_object('email', 'customer' || i || '@example.com',
                                              'name', 'Ana Silva'))
    FROM src
    RETURNING 1
)
INSERT INTO outbox_deliveries (event_id, destination, aggregate_type, aggregate_id, partition,
    sequence, status, published_at, applied_at, attempts, last_error, coalesce_key, created_at)
SELECT s.ev_id, dest, 'order', s.agg, abs(hashtext(s.agg)) %% 16, s.ver,
       CASE WHEN dest = 'crm' AND s.i %% %(dead_every)s = 0 THEN 'dead'
            WHEN (s.i * 4 + k) %% 50 = 0 THEN 'superseded' ELSE 'applied' END,
       s.ts, CASE WHEN dest = 'crm' AND s.i %% %(dead_every)s = 0 THEN NULL ELSE s.ts END,
       CASE WHEN dest = 'crm' AND s.i %% %(dead_every)s = 0 THEN 5 ELSE 1 END,
       CASE WHEN dest = 'crm' AND s.i %% %(dead_every)s = 0 THEN 'HTTP 422 rejected' END,
       NULL, s.ts
FROM src s
CROSS JOIN unnest(ARRAY['erp', 'wms', 'crm', 'channel:shopify']) WITH ORDINALITY AS u(dest, k)
WHERE (SELECT count(*) FROM ev) > 0"""

SQL_B_EVENTS_AFTER = """
DELETE FROM outbox_events e
WHERE e.event_id = ANY(%s)
  AND NOT EXISTS (SELECT 1 FROM outbox_deliveries d WHERE d.event_id = e.event_id)"""

SQL_B_CASCADE = f"""
DELETE FROM outbox_events WHERE id IN (
    SELECT e.id FROM outbox_events e
    WHERE e.created_at < %(cutoff)s
      AND e.created_at >= %(after_ts)s AND (e.created_at, e.id) > (%(after_ts)s, %(after_id)s)
      AND NOT EXISTS (SELECT 1 FROM outbox_deliveries d
                      WHERE d.event_id = e.event_id AND d.status NOT IN {TERMINAL_SQL})
    ORDER BY e.created_at, e.id
    LIMIT %(batch)s)
RETURNING created_at, id"""

SQL_B_NAIVE_DELIVERIES = f"""
DELETE FROM outbox_deliveries WHERE id IN (
    SELECT id FROM outbox_deliveries
    WHERE created_at < %(cutoff)s AND status IN {TERMINAL_SQL}
    LIMIT %(lim)s)"""

SQL_B_NAIVE_EVENTS = """
DELETE FROM outbox_events WHERE id IN (
    SELECT e.id FROM outbox_events e
    WHERE e.created_at < %(cutoff)s
      AND NOT EXISTS (SELECT 1 FROM outbox_deliveries d WHERE d.event_id = e.event_id)
    LIMIT %(lim)s)"""

# (design, variant, reader-transaction hold in s, lock_timeout ms) per round, one simulated
# day per round, oldest first; design A's foreign key is dropped before round FK_DROP_BEFORE.
ROUNDS: list[list[tuple[str, str, float | None, int | None]]] = [
    [("A", "fk_drop", None, None), ("B", "batched", None, None)],
    [("B", "batched", None, None), ("A", "fk_drop", None, None)],
    [("A", "fk_drop", None, None), ("B", "batched", None, None)],
    [("B", "batched", 1.0, None), ("A", "fk_drop", 1.0, 200)],
    [("A", "nofk_drop", None, None), ("B", "cascade", None, None)],
    [("B", "naive", None, None), ("A", "nofk_detach_concurrently", None, None)],
    [("A", "nofk_drop", 1.0, None), ("B", "batched", None, None)],
]
FK_DROP_BEFORE = 4


# ------------------------------------------------------------------ reporting


def a_detail(p: dict[str, Any]) -> str:
    fails = p["failures"]
    out = f"{p['attempts'] - len(fails)} tx"
    if fails:
        out += f" + {len(fails)} retried ({','.join(sorted(set(fails)))})"
    return out + "; " + ", ".join(f"{k} {v:.0f}" for k, v in p["steps_ms"].items())


def tblidx(m: dict[str, Any]) -> str:
    """'heap MB/index MB' of both tables."""
    return (
        f"{mb(m['ev']['table_b'] + m['dl']['table_b'])}/"
        f"{mb(m['ev']['index_b'] + m['dl']['index_b'])}"
    )


def removed(r: dict[str, Any]) -> int:
    return int(r["counts"]["events"] + r["counts"]["deliveries"])


def mb(b: int) -> str:
    return f"{b / 1048576:,.1f}"


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    line = "  ".join(
        h.rjust(w) if i else h.ljust(w)
        for i, (h, w) in enumerate(zip(headers, widths, strict=True))
    )
    out = [line, "  ".join("-" * w for w in widths)]
    for r in rows:
        out.append(
            "  ".join(
                c.rjust(w) if i else c.ljust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )
    return "\n".join(out)


def report(b: Bench, relay: dict[str, Any]) -> None:
    R = b.results
    print()
    print("== 1. Insert (load phase: one tx = event + 4 deliveries; relay marking published) ==")
    rows = []
    agg: dict[str, dict[str, float]] = {}
    for design in ("A", "B"):
        recs = [r for r in R["load"] if r["design"] == design]
        rl = relay.get(design, {})
        rates = [r["rows_per_s"] for r in recs]
        agg[design] = {
            "rows_per_s": med(rates),
            "p50": med([r["p50_ms"] for r in recs]),
            "p99": med([r["p99_ms"] for r in recs]),
        }
        rows.append(
            [
                f"{design} ({'daily partitions' if design == 'A' else 'plain tables'})",
                f"{med(rates):,.0f}",
                f"{min(rates):,.0f}-{max(rates):,.0f}",
                f"{med(rates) / 5:,.0f}",
                f"{agg[design]['p50']:.2f}",
                f"{agg[design]['p99']:.2f}",
                f"{rl.get('rows', 0):,}",
                f"{rl.get('rows', 0) / max(1e-9, rl.get('busy_s', 0)):,.0f}",
            ]
        )
    print(
        table(
            [
                "design",
                "rows/s (median of days)",
                "range",
                "tx/s",
                "tx p50 ms",
                "tx p99 ms",
                "relay rows",
                "relay rows/s busy",
            ],
            rows,
        )
    )
    print(f"A/B insert rate ratio: {agg['A']['rows_per_s'] / agg['B']['rows_per_s']:.2f}")

    print()
    print(
        f"== 2. Point lookups on the ledger ({b.days} daily partitions in A), us per statement =="
    )
    rows = [
        [f"{r['op']}", r["design"], f"{r['us']:,.0f}", " / ".join(f"{x:,.0f}" for x in r["runs"])]
        for r in sorted(R["lookups"], key=lambda r: (r["op"].split()[0], r["op"], r["design"]))
    ]
    print(table(["statement (autocommit, prepared)", "design", "us (median)", "runs"], rows))

    print()
    print(
        "== 3. Prune of the oldest day under concurrent inserts "
        f"({b.args.writers} closed-loop writers + relay) =="
    )
    rows = []
    for r in R["prunes"]:
        c = r["counts"]
        p = r["prune"]
        extra = (
            f"{p['batches']} x p50 {p['batch_p50_ms']:.0f}/max {p['batch_max_ms']:.0f} ms"
            if r["design"] == "B"
            else a_detail(p)
        )
        rows.append(
            [
                f"{r['design']} {r['variant']}",
                str(r["day"]),
                f"{c['events'] + c['deliveries']:,}",
                f"{r['prune_ms']:,.0f}",
                extra,
                f"{r['base_tps']:,.0f}",
                f"{r['during_tps']:,.0f}",
                f"{r['during_tps'] / r['base_tps']:.2f}",
                f"{r['base_p50']:.1f}/{r['base_p99']:.1f}",
                f"{r['during_p50']:.1f}/{r['during_p99']:.1f}/{r['during_max']:.0f}",
                f"{r['during_p99'] / r['base_p99']:.1f}x",
                str(c["non_terminal"]),
                f"{r['left']['deliveries']}",
            ]
        )
    print(
        table(
            [
                "design variant",
                "day",
                "rows in day",
                "prune ms",
                "detail (ms)",
                "base tx/s",
                "prune tx/s",
                "ratio",
                "base p50/p99 ms",
                "prune p50/p99/max ms",
                "p99 ratio",
                "non-term.",
                "dl kept",
            ],
            rows,
        )
    )

    print()
    print("== 4. Space and dead tuples (both tables; MB = heap incl. TOAST / indexes) ==")
    rows = []
    vac = {(v["design"], v["label"]): v for v in R["vacuum"]}
    for i, r in enumerate(R["prunes"]):
        p = r["prune"]
        bf, af, st = p["sizes_before"], p["sizes_after"], r["stattuple"]
        v = vac.get((r["design"], f"round{i // 2 + 1}"))
        va, vs = (v["after"], v["stattuple_after"]) if v else (None, None)
        rows.append(
            [
                f"{r['design']} {r['variant']}",
                str(r["day"]),
                f"{r['counts']['events'] + r['counts']['deliveries']:,}",
                tblidx(bf),
                tblidx(af),
                f"{af['ev']['del'] - bf['ev']['del']:,}/{af['dl']['del'] - bf['dl']['del']:,}"
                if r["design"] == "B"
                else "-",
                f"{af['ev']['dead']:,}/{af['dl']['dead']:,}",
                f"{mb(st['dead_len'])}/{mb(st['free'])}",
                f"{v['vacuum_ms']:,.0f}" if v else "",
                f"{mb(vs['dead_len'])}/{mb(vs['free'])}" if vs else "",
                tblidx(va) if va else "",
            ]
        )
    print(
        table(
            [
                "design variant",
                "day",
                "rows in day",
                "MB before",
                "MB after prune",
                "n_tup_del ev/dl",
                "n_dead_tup ev/dl",
                "dead/free MB (pgstattuple)",
                "VACUUM ms",
                "dead/free MB after VACUUM",
                "MB after VACUUM",
            ],
            rows,
        )
    )
    print(
        "(n_dead_tup also counts the relay's UPDATEs of the rows inserted meanwhile;"
        " VACUUM ms is the VACUUM of that design's two tables at the end of the round.)"
    )
    pl = [v for v in R["vacuum"] if v["label"] == "post-load"]
    if pl:
        print(
            "post-load, before any prune (dead tuples from the relay's UPDATEs only): "
            + "; ".join(
                f"{v['design']}: n_dead_tup ev/dl "
                f"{v['before']['ev']['dead']:,}/{v['before']['dl']['dead']:,},"
                f" VACUUM {v['vacuum_ms']:,.0f} ms"
                for v in pl
            )
        )
    if "fk_drop_ms" in R:
        print(
            "design A: ALTER TABLE … DROP CONSTRAINT (the composite FK) took"
            f" {R['fk_drop_ms']:.0f} ms"
            " (no concurrent load)"
        )
    print()
    print("== 5. Summary per variant (medians) ==")
    rows = []
    by: dict[str, list[dict[str, Any]]] = {}
    for r in R["prunes"]:
        by.setdefault(f"{r['design']} {r['variant']}", []).append(r)
    for k, rs in by.items():
        rows.append(
            [
                k,
                str(len(rs)),
                f"{med([r['prune_ms'] for r in rs]):,.0f}",
                f"{med([removed(r) / max(1e-9, r['prune_ms'] / 1e3) for r in rs]):,.0f}",
                f"{med([r['during_tps'] / r['base_tps'] for r in rs]):.2f}",
                f"{med([r['during_p99'] / r['base_p99'] for r in rs]):.1f}x",
                f"{med([r['during_max'] for r in rs]):,.0f}",
            ]
        )
    print(
        table(
            ["variant", "n", "prune ms", "rows removed/s", "tx/s ratio", "p99 ratio", "max ms"],
            rows,
        )
    )
    groups = {
        "A with FK": [r for r in R["prunes"] if r["design"] == "A" and "nofk" not in r["variant"]],
        "A without FK": [r for r in R["prunes"] if r["design"] == "A" and "nofk" in r["variant"]],
        "B": [r for r in R["prunes"] if r["design"] == "B"],
    }
    print(
        "insert baseline in the prune windows (no prune running), median tx/s and p99 ms: "
        + "; ".join(
            f"{k} {med([r['base_tps'] for r in g]):,.0f} tx/s,"
            f" p99 {med([r['base_p99'] for r in g]):.1f} ms"
            f" (n={len(g)})"
            for k, g in groups.items()
            if g
        )
    )


# ----------------------------------------------------------------------- main


def base_dsn(arg: str | None) -> str:
    url = (
        arg
        or os.environ.get("ORDERSYNC_TEST_DATABASE_URL")
        or os.environ.get("ORDERSYNC_DATABASE_URL")
        or "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    return url.replace("postgresql+psycopg://", "postgresql://")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bench.retention", description=__doc__.split("\n")[0]
    )
    ap.add_argument(
        "--rows",
        type=int,
        default=6000,
        help="events to load (each with 4 deliveries: 5 rows per event); default 6000",
    )
    ap.add_argument(
        "--batch",
        default="1000",
        help="events per DELETE batch in design B (~5 rows each); default 1000; a comma"
        " list (e.g. 500,4000) is cycled over B's batched prunes",
    )
    ap.add_argument(
        "--tx-events",
        type=int,
        default=0,
        help="events per design loaded one transaction each (the measured insert rate), spread"
        " over the days; the rest of --rows is bulk-filled set-wise. 0 (default): all of them",
    )
    ap.add_argument("--days", type=int, default=8, help="simulated days (>= 8 for all rounds)")
    ap.add_argument("--writers", type=int, default=2, help="concurrent insert processes")
    ap.add_argument(
        "--baseline", type=float, default=2.0, help="seconds of inserts before each prune"
    )
    ap.add_argument(
        "--dsn",
        default=None,
        help="server to use (default: ORDERSYNC_TEST_DATABASE_URL"
        " / ORDERSYNC_DATABASE_URL / postgresql://postgres@127.0.0.1:5432/postgres)",
    )
    ap.add_argument("--json", default=None, help="also write all figures to this file")
    args = ap.parse_args(argv)
    args.batch = [int(x) for x in str(args.batch).split(",") if x.strip()]
    if args.days < 2:
        ap.error("--days must be >= 2")

    admin = base_dsn(args.dsn)
    dbname = f"ordersync_bench_retention_{secrets.token_hex(4)}"
    dsn = make_conninfo(admin, dbname=dbname)
    with psycopg.connect(admin, autocommit=True) as a:
        server = a.execute("SHOW server_version").fetchone()[0]
        a.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    t_start = time.monotonic()
    bench: Bench | None = None
    relay: dict[str, Any] = {}
    try:
        bench = Bench(args, admin, dsn)
        host = conninfo_to_dict(dsn).get("host", "?")
        log(
            f"retention bench: PostgreSQL {server} on {host}, db {dbname}; {args.rows:,} events x"
            f" (1 + {len(DESTINATIONS)}) rows over {args.days} days"
            f" ({args.tx_events or args.rows:,} per design one transaction each),"
            f" batch {args.batch} events,"
            f" {args.writers} writers, {os.cpu_count()} CPUs"
        )
        bench.conn.execute("CREATE EXTENSION IF NOT EXISTS pgstattuple")
        bench.create_schema()
        bench.bulk_fill()
        for design, schema in SCHEMAS.items():
            with _connect(dsn, schema) as c:
                c.execute(FK_A if design == "A" else FK_B)
        bench.start_relays()
        log("load (A/B interleaved per day):")
        bench.load()
        bench.wait_drained()
        for schema in SCHEMAS.values():
            bench.conn.execute(
                sql.SQL("ANALYZE {}.outbox_events, {}.outbox_deliveries").format(
                    sql.Identifier(schema), sql.Identifier(schema)
                )
            )
        for design in SCHEMAS:
            bench.vacuum(design, "post-load")
        log("point lookups ...")
        bench.lookups()
        log("prune rounds (one day each, oldest first):")
        rounds = ROUNDS[: args.days - 1]
        for i, rnd in enumerate(rounds):
            if i == FK_DROP_BEFORE:
                ms = bench.drop_fk_a()
                bench.results["fk_drop_ms"] = ms
                log(f"  design A: foreign key deliveries -> events dropped ({ms:.0f} ms, no load)")
            for design, variant, hold, lt in rnd:
                bench.prune_round(design, i, variant, hold, lt)
            for design in ("A", "B"):
                v = bench.vacuum(design, f"round{i + 1}")
                log(
                    f"    VACUUM {design}: {v['vacuum_ms']:,.0f} ms (n_dead_tup ev/dl before "
                    f"{v['before']['ev']['dead']:,}/{v['before']['dl']['dead']:,})"
                )
        relay = bench.stop_relays()
        report(bench, relay)
        log(f"\ntotal {time.monotonic() - t_start:.0f} s")
        if args.json:
            with open(args.json, "w") as f:
                json.dump(
                    {"args": vars(args), "server": server, "relay": relay, **bench.results},
                    f,
                    indent=1,
                    default=str,
                )
        return 0
    finally:
        if bench is not None:
            bench.relay_stop.set()
            for p in bench.relays + bench.children:
                p.join(timeout=5)
                if p.is_alive():
                    p.terminate()
            try:
                bench.conn.close()
            except Exception:
                pass
        with psycopg.connect(admin, autocommit=True) as a:
            a.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname))
            )


if __name__ == "__main__":
    sys.exit(main())
