"""Ingest benchmark: orders/s accepted over HTTP beside the raw rate of the same rows.

    .venv/bin/python -m bench.ingest [--seconds S] [--clients 1,8,32] [--skus N]
                                     [--repeats R] [--api-procs N] [--json FILE]
                                     [--profile DIR]

What it does, in one run:

* creates two scratch databases (migrated with adapters.db.migrate.upgrade): one
  for the API, one for the raw baseline; registers a channel and two locations
  and gives every SKU (200 by default) plenty of stock at both locations;
* starts `ordersync api` as a separate process on a free 127.0.0.1 port and waits
  for /readyz;
* posts one template order and reads back what it wrote (orders, lines,
  reservations, stock, SKU versions, sequences, outbox events and deliveries),
  so the raw baseline writes exactly the same rows;
* for each repeat and each concurrency level, interleaved so machine noise hits
  all three: raw (plain psycopg 3, one thread and connection per client, one
  transaction per order), api (N aiohttp clients looping POST /v1/orders with
  unique external ids, 2-line orders over random SKUs), raw + NOTIFY (the same
  raw transaction with `SELECT pg_notify('ordersync_outbox', '')` in it);
* prints a table (medians over the repeats, each run beside it), the CPU spent
  per order by the API process, the load generator and the PostgreSQL backends;
* drops the scratch databases and stops the API, even on failure.

With --profile DIR it measures where the time goes at 8 clients instead:
database round trips per order (libpq protocol trace, product vs raw), what
the PostgreSQL backends are doing (pg_stat_activity sampled every 10 ms), CPU
per order, and a py-spy profile of the API process (needs `pip install py-spy`)
classified into HTTP / JSON / pydantic / SQLAlchemy / psycopg / thread pool /
product code; the raw profile files are kept in DIR.

Figures are only comparable within one run (the machine's other load moves
absolute figures by ±20-30%); the ratio is the result.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
from psycopg import sql

from bench.common import SERVER, raw_dsn, sa_url
from outbox.partition import partition_of
from tests.factories import order_doc

ADMIN_TOKEN = "bench-admin-token-not-secret"
CHANNEL = "bench"
LOCATIONS = (("WH-EAST", "warehouse", 10), ("STORE-LIS", "store", 50))
ON_HAND = 50_000_000  # per SKU and location: orders never run out
NOTIFY_CHANNEL = "ordersync_outbox"
ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ----------------------------------------------------------------------------
# Scratch databases and the API process
# ----------------------------------------------------------------------------


def admin_conn() -> psycopg.Connection[Any]:
    return psycopg.connect(f"{SERVER}/postgres", autocommit=True)


def create_db(name: str) -> None:
    with admin_conn() as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_db(name: str) -> None:
    with admin_conn() as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ordersync_command() -> list[str]:
    script = Path(sys.executable).parent / "ordersync"
    if script.exists():
        return [str(script)]
    found = shutil.which("ordersync")
    if found:
        return [found]
    return [sys.executable, "-c", "from ops.cli import main; main()"]


class ApiProcess:
    """`ordersync api` in its own process, stopped (SIGTERM, then SIGKILL) by stop()."""

    def __init__(self, db: str, log_dir: Path, index: int = 0) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"api-{index}.log"
        env = {
            **os.environ,
            "ORDERSYNC_DATABASE_URL": sa_url(db),
            "ORDERSYNC_ADMIN_TOKEN": ADMIN_TOKEN,
            "PYTHONUNBUFFERED": "1",
        }
        cmd = [*ordersync_command(), "api", "--host", "127.0.0.1", "--port", str(self.port)]
        self.log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            cmd, env=env, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_ready(self, timeout: float = 60.0) -> None:
        import urllib.error
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the API exited ({self.proc.returncode}):\n{self.tail()}")
            try:
                with urllib.request.urlopen(f"{self.base}/readyz", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the API was not ready within {timeout:g}s:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


# ----------------------------------------------------------------------------
# Setup: channel, locations, stock
# ----------------------------------------------------------------------------


def product_revision() -> str:
    """The commit measured (read-only git), with a note when product files are modified."""
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            [
                "git",
                "-C",
                str(ROOT),
                "status",
                "--porcelain",
                "--",
                "adapters",
                "domain",
                "outbox",
                "ops",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" (product files modified)" if dirty else "")


def sku_names(n: int) -> list[str]:
    return [f"BENCH-{i:04d}" for i in range(n)]


def setup_db(db: str, skus: list[str]) -> str:
    """Migrate, register the channel and the locations (the product's own code), add stock."""
    import sqlalchemy as sa

    from adapters.db import registry
    from adapters.db.migrate import upgrade

    upgrade(sa_url(db))
    engine = sa.create_engine(sa_url(db))
    try:
        with engine.begin() as conn:
            key = registry.add_channel(conn, CHANNEL, "canonical")
            for code, type_, priority in LOCATIONS:
                registry.add_location(conn, code, type_, priority)
    finally:
        engine.dispose()
    with psycopg.connect(raw_dsn(db)) as conn:
        conn.execute("INSERT INTO skus (sku, version) SELECT unnest(%s::text[]), 0", [skus])
        conn.execute(
            "INSERT INTO stock (sku, location, on_hand, reserved)"
            " SELECT s, l, %s, 0 FROM unnest(%s::text[]) s, unnest(%s::text[]) l",
            [ON_HAND, skus, [code for code, _, _ in LOCATIONS]],
        )
        conn.execute("ANALYZE")
    return key


def order_document(external_id: str, skus: tuple[str, str]) -> dict[str, Any]:
    """The contract order of DESIGN.md (tests/factories.py) with two lines at 10.00."""
    return order_doc(external_id, [(sku, 1) for sku in skus])


class BodyMaker:
    """Request bodies by string substitution (the load generator stays cheap)."""

    def __init__(self) -> None:
        text = json.dumps(order_document("@@EXT@@", ("@@SKU1@@", "@@SKU2@@")))
        a, rest = text.split("@@EXT@@")
        b, rest = rest.split("@@SKU1@@")
        c, d = rest.split("@@SKU2@@")
        self.parts = (a, b, c, d)

    def __call__(self, external_id: str, skus: tuple[str, str]) -> bytes:
        a, b, c, d = self.parts
        return f"{a}{external_id}{b}{skus[0]}{c}{skus[1]}{d}".encode()


def two_skus(rng: random.Random, skus: list[str]) -> tuple[str, str]:
    a, b = rng.sample(skus, 2)
    return (a, b) if a < b else (b, a)


# ----------------------------------------------------------------------------
# The template: what one real order wrote
# ----------------------------------------------------------------------------


# Per-order values the raw writer puts in place of the template's (anything else is
# copied from the real order's rows, so a column added to the product is written too).
# A value is a context key, or ("sql", expression) evaluated by the server.
OVERRIDES: dict[str, dict[str, Any]] = {
    "orders": {
        "id": "order_id",
        "external_id": "external_id",
        "created_at": "now",
        "updated_at": "now",
        # the product's change-feed position: the writing transaction's id
        "change_seq": ("sql", "pg_current_xact_id()::text::bigint"),
    },
    "order_lines": {"order_id": "order_id", "sku": "line_sku"},
    "reservations": {
        "id": "new_uuid",
        "order_id": "order_id",
        "sku": "line_sku",
        "location": "location",
        "created_at": "now",
    },
}


class RowTemplate:
    """The rows one real order wrote into a table, as a multi-row INSERT for new orders."""

    def __init__(self, conn: psycopg.Connection[Any], table: str, order_id: str) -> None:
        cols = conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = 'public' AND table_name = %s ORDER BY ordinal_position",
            [table],
        ).fetchall()
        self.table = table
        self.columns = [c for c, _ in cols]
        json_cols = {c for c, t in cols if t in ("json", "jsonb")}
        select = ", ".join(f"{c}::text" if c in json_cols else c for c in self.columns)
        key = "id" if table == "orders" else "order_id"
        order_by = " ORDER BY line_no" if "line_no" in self.columns else ""
        self.rows = [
            dict(zip(self.columns, r, strict=True))
            for r in conn.execute(
                f"SELECT {select} FROM {table} WHERE {key} = %s{order_by}", [order_id]
            ).fetchall()
        ]
        overrides = OVERRIDES[table]
        self.slots: list[tuple[str, Any]] = []  # per column: ("ctx", key) or ("tpl", None)
        placeholders = []
        for c in self.columns:
            o = overrides.get(c)
            if isinstance(o, tuple):
                placeholders.append(o[1])
                continue
            placeholders.append("%s::jsonb" if c in json_cols else "%s")
            self.slots.append((c, o))
        row_sql = "(" + ", ".join(placeholders) + ")"
        self.sql = f"INSERT INTO {table} ({', '.join(self.columns)}) VALUES " + ", ".join(
            [row_sql] * len(self.rows)
        )

    def params(self, ctx: dict[str, Any], per_row: list[dict[str, Any]]) -> list[Any]:
        out: list[Any] = []
        for row, extra in zip(self.rows, per_row, strict=True):
            for c, o in self.slots:
                if o is None:
                    out.append(row[c])
                elif o == "new_uuid":
                    out.append(uuid.uuid4())
                else:
                    out.append(extra[o] if o in extra else ctx[o])
        return out


@dataclass
class Template:
    rows: dict[str, RowTemplate]  # orders, order_lines, reservations: copied column by column
    order_id: str
    external_id: str
    skus: tuple[str, str]
    # (event_type, event_version, aggregate kind "order" | sku index, payload text, channel,
    #  coalesce prefix, destinations)
    events: list[tuple[str, int, Any, str, str | None, str | None, list[str]]]
    counts: dict[str, int]


def post_template_order(api: ApiProcess, key: str, skus: list[str]) -> dict[str, Any]:
    import urllib.request

    pair = (skus[0], skus[1])
    body = json.dumps(order_document("BENCH-TEMPLATE", pair)).encode()
    request = urllib.request.Request(
        f"{api.base}/v1/orders",
        data=body,
        method="POST",
        headers={
            "Authorization": f"Bearer {key}",
            "Content-Type": "application/json",
            "X-Correlation-ID": "bench-template",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        if resp.status != 201:
            raise RuntimeError(f"template order: HTTP {resp.status}")
        doc: dict[str, Any] = json.loads(resp.read())
    if doc.get("status") != "allocated":
        raise RuntimeError(f"template order not allocated: {doc.get('status')}")
    return doc


def read_template(db: str, doc: dict[str, Any]) -> Template:
    order_id = doc["id"]
    skus = tuple(sorted(line["sku"] for line in doc["lines"]))
    with psycopg.connect(raw_dsn(db)) as conn:
        tables = {
            t: RowTemplate(conn, t, order_id) for t in ("orders", "order_lines", "reservations")
        }
        external_id = tables["orders"].rows[0]["external_id"]
        counts = {t: len(r.rows) for t, r in tables.items()}
        events = []
        rows = conn.execute(
            "SELECT e.event_id, e.event_type, e.event_version, e.aggregate_type, e.aggregate_id,"
            " e.channel, e.payload::text,"
            " array_agg(d.destination ORDER BY d.id), max(d.coalesce_key)"
            " FROM outbox_events e JOIN outbox_deliveries d USING (event_id)"
            " WHERE e.correlation_id = 'bench-template'"
            " GROUP BY e.id ORDER BY e.id"
        ).fetchall()
        deliveries = 0
        for _eid, etype, ever, atype, agg_id, channel, payload, dests, coalesce in rows:
            if atype == "order":
                assert agg_id == order_id
                kind: Any = "order"
                payload = payload.replace(order_id, "@@ORDER@@").replace(external_id, "@@EXT@@")
            else:
                kind = skus.index(agg_id)
                payload = payload.replace(agg_id, "@@SKU@@")
            prefix = coalesce.split(":", 1)[0] if coalesce else None
            events.append((etype, ever, kind, payload, channel, prefix, list(dests)))
            deliveries += len(dests)
        seq_keys = {
            ("order" if k == "order" else "sku", k, d)
            for _, _, k, _, _, _, dests in events
            for d in dests
        }
        counts.update(
            {
                "stock updated": 2,
                "skus version bumped": 2,
                "outbox_sequences upserted": len(seq_keys),
                "outbox_events": len(events),
                "outbox_deliveries": deliveries,
            }
        )
    return Template(tables, order_id, external_id, skus, events, counts)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------
# The raw baseline: plain psycopg 3, one transaction per order
# ----------------------------------------------------------------------------

# Lock the SKU rows (sorted), then read their stock in a fresh snapshot: like the
# product, two statements, because a joined read in the locking statement would see
# stock rows as they were before the lock wait (a lost update).
LOCK_SKUS = "SELECT sku FROM skus WHERE sku = ANY(%s) ORDER BY sku FOR UPDATE"
READ_STOCK = (
    "SELECT s.sku, s.version, st.location, st.on_hand, st.reserved, l.priority"
    " FROM skus s LEFT JOIN stock st ON st.sku = s.sku"
    " LEFT JOIN locations l ON l.code = st.location"
    " WHERE s.sku = ANY(%s) ORDER BY s.sku, st.location"
)
UPDATE_STOCK = (
    "UPDATE stock SET on_hand = %s, reserved = %s, updated_at = now()"
    " WHERE sku = %s AND location = %s"
)
BUMP_SKUS = "UPDATE skus SET version = version + 1 WHERE sku = ANY(%s) RETURNING sku, version"
UPSERT_SEQUENCES = (
    "INSERT INTO outbox_sequences (aggregate_type, aggregate_id, destination, last_sequence)"
    " SELECT * FROM (VALUES {values}) AS v (aggregate_type, aggregate_id, destination, n)"
    " ON CONFLICT (aggregate_type, aggregate_id, destination) DO UPDATE"
    " SET last_sequence = outbox_sequences.last_sequence + excluded.last_sequence"
    " RETURNING aggregate_type, aggregate_id, destination, last_sequence"
)
INSERT_EVENTS = (
    "INSERT INTO outbox_events (event_id, event_type, event_version, aggregate_type,"
    " aggregate_id, aggregate_version, partition, channel, correlation_id, causation_id,"
    " traceparent, tracestate, occurred_at, payload) VALUES {values}"
)
INSERT_DELIVERIES = (
    "INSERT INTO outbox_deliveries (event_id, destination, aggregate_type, aggregate_id,"
    " partition, sequence, coalesce_key) VALUES {values}"
)


class RawWriter:
    """Writes the template's rows for one order, one statement per table (like the product)."""

    def __init__(self, template: Template) -> None:
        self.t = template
        dest_keys = {(k, d) for _, _, k, _, _, _, dests in template.events for d in dests}
        self.n_seq = len(dest_keys)
        self.upsert_sequences = UPSERT_SEQUENCES.format(
            values=", ".join(["(%s, %s, %s, %s::int)"] * self.n_seq)
        )
        self.insert_events = INSERT_EVENTS.format(
            values=", ".join(
                ["(%s, %s, %s, %s, %s, %s, %s, %s, %s, NULL, NULL, NULL, %s, %s::jsonb)"]
                * len(template.events)
            )
        )
        n_del = sum(len(e[6]) for e in template.events)
        self.insert_deliveries = INSERT_DELIVERIES.format(
            values=", ".join(["(%s, %s, %s, %s, %s, %s, %s)"] * n_del)
        )
        self.insert_order = template.rows["orders"].sql + " ON CONFLICT DO NOTHING RETURNING id"
        self.line_skus = [int(r["line_no"]) - 1 for r in template.rows["order_lines"].rows]
        self.held_skus = [int(r["line_no"]) - 1 for r in template.rows["reservations"].rows]

    def place(
        self, conn: psycopg.Connection[Any], external_id: str, skus: tuple[str, str], notify: bool
    ) -> None:
        t = self.t
        now = datetime.now(UTC)
        order_id = uuid.uuid4()
        oid = str(order_id)
        with conn.transaction():
            conn.execute(LOCK_SKUS, [list(skus)])
            rows = conn.execute(READ_STOCK, [list(skus)]).fetchall()
            # Allocation: the first location by priority that has both lines.
            levels: dict[str, dict[str, tuple[int, int, int]]] = {}
            for sku, _version, loc, on_hand, reserved, priority in rows:
                levels.setdefault(loc, {})[sku] = (on_hand, reserved, priority)
            loc = min(
                (
                    lv
                    for lv in levels
                    if all(
                        s in levels[lv] and levels[lv][s][0] - levels[lv][s][1] >= 1 for s in skus
                    )
                ),
                key=lambda lv: (next(iter(levels[lv].values()))[2], lv),
            )
            ctx = {"order_id": order_id, "external_id": external_id, "now": now, "location": loc}
            tpl = t.rows
            inserted = conn.execute(self.insert_order, tpl["orders"].params(ctx, [{}])).fetchone()
            assert inserted is not None
            conn.execute(
                tpl["order_lines"].sql,
                tpl["order_lines"].params(ctx, [{"line_sku": skus[i]} for i in self.line_skus]),
            )
            conn.execute(
                tpl["reservations"].sql,
                tpl["reservations"].params(ctx, [{"line_sku": skus[i]} for i in self.held_skus]),
            )
            with conn.cursor() as cur:
                cur.executemany(
                    UPDATE_STOCK,
                    [(levels[loc][s][0], levels[loc][s][1] + 1, s, loc) for s in skus],
                )
            versions = dict(conn.execute(BUMP_SKUS, [list(skus)]).fetchall())
            counts: collections.Counter[tuple[str, str, str]] = collections.Counter()
            for _, _, kind, _, _, _, dests in t.events:
                agg = ("order", oid) if kind == "order" else ("sku", skus[kind])
                for d in dests:
                    counts[(*agg, d)] += 1
            keys = sorted(counts)
            params: list[Any] = []
            for k in keys:
                params.extend((*k, counts[k]))
            first = {
                (a, b, c): last - counts[(a, b, c)] + 1
                for a, b, c, last in conn.execute(self.upsert_sequences, params).fetchall()
            }
            ev_params: list[Any] = []
            del_params: list[Any] = []
            for etype, ever, kind, payload, channel, prefix, dests in t.events:
                event_id = uuid.uuid4()
                if kind == "order":
                    atype, agg_id, version = "order", oid, 1
                    text = payload.replace("@@ORDER@@", oid).replace("@@EXT@@", external_id)
                else:
                    atype, agg_id, version = "sku", skus[kind], versions[skus[kind]]
                    text = payload.replace("@@SKU@@", agg_id)
                part = partition_of(atype, agg_id)
                ev_params.extend(
                    (
                        event_id,
                        etype,
                        ever,
                        atype,
                        agg_id,
                        version,
                        part,
                        channel,
                        "raw-bench",
                        now,
                        text,
                    )
                )
                for d in dests:
                    seq_key = (atype, agg_id, d)
                    del_params.extend(
                        (
                            event_id,
                            d,
                            atype,
                            agg_id,
                            part,
                            first[seq_key],
                            f"{prefix}:{agg_id}" if prefix else None,
                        )
                    )
                    first[seq_key] += 1
            conn.execute(self.insert_events, ev_params)
            conn.execute(self.insert_deliveries, del_params)
            if notify:
                conn.execute("SELECT pg_notify(%s, '')", [NOTIFY_CHANNEL])


# ----------------------------------------------------------------------------
# Measurement windows
# ----------------------------------------------------------------------------


@dataclass
class Window:
    mode: str  # "raw", "api", "raw+notify"
    clients: int
    seconds: float
    orders: int = 0
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    error_samples: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)  # seconds of CPU in the window

    @property
    def rate(self) -> float:
        return self.orders / self.seconds

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        xs = sorted(self.latencies)
        return xs[min(len(xs) - 1, int(q * len(xs)))] * 1000

    def cpu_us_per_order(self, who: str) -> float:
        return self.cpu.get(who, float("nan")) / max(self.orders, 1) * 1e6


def proc_cpu(pid: int) -> float:
    """utime + stime of a process, in seconds (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return 0.0


class CpuMeter:
    """CPU seconds of named process groups between start() and stop()."""

    def __init__(self, groups: dict[str, Callable[[], list[int]]]) -> None:
        self.groups = groups
        self.start_values: dict[str, dict[int, float]] = {}

    def start(self) -> None:
        self.start_values = {g: {p: proc_cpu(p) for p in f()} for g, f in self.groups.items()}

    def stop(self) -> dict[str, float]:
        out = {}
        for g, before in self.start_values.items():
            out[g] = sum(proc_cpu(p) - v for p, v in before.items())
        return out


def backend_pids(db: str) -> list[int]:
    with admin_conn() as conn:
        return [
            r[0]
            for r in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND backend_type ="
                " 'client backend'",
                [db],
            )
        ]


class ActivitySampler:
    """What the database's backends are doing, sampled every `interval` seconds."""

    def __init__(self, db: str, interval: float = 0.01) -> None:
        self.db = db
        self.interval = interval
        self.samples = 0
        self.states: collections.Counter[str] = collections.Counter()
        self.events: collections.Counter[str] = collections.Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._active = threading.Event()

    def _run(self) -> None:
        with admin_conn() as conn:
            query = (
                "SELECT state, wait_event_type, wait_event FROM pg_stat_activity"
                " WHERE datname = %s AND backend_type = 'client backend'"
                " AND pid <> pg_backend_pid()"
            )
            conn.execute(query, [self.db])  # prepare
            while not self._stop.is_set():
                if self._active.is_set():
                    rows = conn.execute(query, [self.db]).fetchall()
                    self.samples += 1
                    for state, wtype, wevent in rows:
                        self.states[self.classify(state, wtype, wevent)] += 1
                        if wtype:
                            self.events[f"{state}/{wtype}:{wevent}"] += 1
                time.sleep(self.interval)

    @staticmethod
    def classify(state: str | None, wtype: str | None, wevent: str | None) -> str:
        if state == "active":
            if wtype is None:
                return "running statement (CPU)"
            if wtype == "Lock":
                return f"waiting on a lock ({wevent})"
            if wtype in ("LWLock", "IO") or (wevent or "").startswith("WAL"):
                return f"WAL / IO / LWLock ({wevent})"
            return f"active, waiting {wtype}:{wevent}"
        if state == "idle in transaction":
            return "in transaction, waiting for the client"
        if state == "idle":
            return "idle (between transactions)"
        return str(state)

    def start(self) -> None:
        self._thread.start()

    def active(self, on: bool) -> None:
        (self._active.set if on else self._active.clear)()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def averages(self) -> dict[str, float]:
        """Average number of backends in each state."""
        return {k: v / max(self.samples, 1) for k, v in self.states.most_common()}


def run_raw(
    db: str,
    writer: RawWriter,
    skus: list[str],
    clients: int,
    seconds: float,
    warmup: float,
    notify: bool,
    tag: str,
    cpu_groups: dict[str, Callable[[], list[int]]],
    sampler: ActivitySampler | None = None,
) -> Window:
    window = Window("raw+notify" if notify else "raw", clients, seconds)
    conns = [psycopg.connect(raw_dsn(db)) for _ in range(clients)]
    pids = [c.info.backend_pid for c in conns]
    meter = CpuMeter({**cpu_groups, "postgres": lambda: pids})
    lock = threading.Lock()
    start = time.perf_counter() + 0.2
    measure_from, end = start + warmup, start + warmup + seconds
    failures: list[BaseException] = []

    def client(i: int, conn: psycopg.Connection[Any]) -> None:
        rng = random.Random(f"{tag}-{i}")
        lat: list[float] = []
        n = 0
        errors: collections.Counter[str] = collections.Counter()
        try:
            while time.perf_counter() < start:
                time.sleep(0.001)
            k = 0
            while True:
                t0 = time.perf_counter()
                if t0 >= end:
                    break
                k += 1
                pair = two_skus(rng, skus)
                for _attempt in range(8):
                    try:
                        writer.place(conn, f"{tag}-{i}-{k}", pair, notify)
                        break
                    except (
                        psycopg.errors.DeadlockDetected,
                        psycopg.errors.SerializationFailure,
                    ) as e:
                        errors[type(e).__name__] += 1
                t1 = time.perf_counter()
                if measure_from <= t1 <= end:
                    n += 1
                    lat.append(t1 - t0)
        except BaseException as e:  # reported by the main thread
            failures.append(e)
        with lock:
            window.orders += n
            window.latencies.extend(lat)
            window.errors.update(errors)

    threads = [threading.Thread(target=client, args=(i, c)) for i, c in enumerate(conns)]
    for th in threads:
        th.start()
    time.sleep(max(0.0, measure_from - time.perf_counter()))
    meter.start()
    if sampler:
        sampler.active(True)
    time.sleep(max(0.0, end - time.perf_counter()))
    window.cpu = meter.stop()
    if sampler:
        sampler.active(False)
    for th in threads:
        th.join()
    for c in conns:
        c.close()
    if failures:
        raise failures[0]
    return window


async def _api_window(
    bases: list[str],
    key: str,
    skus: list[str],
    clients: int,
    seconds: float,
    warmup: float,
    tag: str,
    window: Window,
    on_measure: Callable[[], None],
    on_end: Callable[[], None],
) -> None:
    make_body = BodyMaker()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=clients, limit_per_host=clients)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        # One keep-alive connection per client, opened before the clock starts.
        await asyncio.gather(
            *(session.get(f"{bases[i % len(bases)]}/healthz") for i in range(clients))
        )
        loop = asyncio.get_running_loop()
        start = loop.time() + 0.05
        measure_from, end = start + warmup, start + warmup + seconds

        async def client(i: int) -> None:
            rng = random.Random(f"{tag}-{i}")
            url = f"{bases[i % len(bases)]}/v1/orders"  # clients spread over the processes
            k = 0
            while True:
                t0 = loop.time()
                if t0 >= end:
                    return
                k += 1
                body = make_body(f"{tag}-{i}-{k}", two_skus(rng, skus))
                async with session.post(url, data=body, headers=headers) as resp:
                    payload = await resp.read()
                    status = resp.status
                t1 = loop.time()
                if measure_from <= t1 <= end:
                    if status == 201:
                        window.orders += 1
                        window.latencies.append(t1 - t0)
                    else:
                        window.errors[str(status)] += 1
                        if len(window.error_samples) < 3:
                            window.error_samples.append(payload[:300].decode(errors="replace"))

        async def clock() -> None:
            await asyncio.sleep(max(0.0, measure_from - loop.time()))
            on_measure()
            await asyncio.sleep(max(0.0, end - loop.time()))
            on_end()

        await asyncio.sleep(max(0.0, start - loop.time()))
        await asyncio.gather(clock(), *(client(i) for i in range(clients)))


def run_api(
    api: ApiProcess | list[ApiProcess],
    db: str,
    key: str,
    skus: list[str],
    clients: int,
    seconds: float,
    warmup: float,
    tag: str,
    cpu_groups: dict[str, Callable[[], list[int]]],
    sampler: ActivitySampler | None = None,
) -> Window:
    window = Window("api", clients, seconds)
    holder: dict[str, CpuMeter] = {}

    def on_measure() -> None:
        pids = backend_pids(db)  # the pool's connections, opened during the warm-up
        holder["m"] = CpuMeter({**cpu_groups, "postgres": lambda: pids})
        holder["m"].start()
        if sampler:
            sampler.active(True)

    def on_end() -> None:
        window.cpu = holder["m"].stop()
        if sampler:
            sampler.active(False)

    bases = [a.base for a in (api if isinstance(api, list) else [api])]
    asyncio.run(
        _api_window(bases, key, skus, clients, seconds, warmup, tag, window, on_measure, on_end)
    )
    return window


# ----------------------------------------------------------------------------
# Round trips per order (libpq protocol trace)
# ----------------------------------------------------------------------------


def count_trace(path: Path) -> dict[str, int]:
    """Round trips = F→B turns in a libpq trace; also the Query/Sync messages sent."""
    turns = queries = syncs = 0
    last = ""
    with path.open(errors="replace") as f:
        for line in f:
            direction = line[:1]
            if direction not in ("F", "B"):
                continue
            parts = line.split("\t")
            kind = parts[2] if len(parts) > 2 else ""
            if direction == "F":
                if kind.startswith("Query"):
                    queries += 1
                elif kind.startswith("Sync"):
                    syncs += 1
            if direction == "B" and last == "F":
                turns += 1
            last = direction
    return {"round_trips": turns, "simple_queries": queries, "syncs": syncs}


def product_round_trips(
    db: str, key: str, skus: list[str], n_small: int = 10, n_large: int = 60
) -> dict[str, Any]:
    """Round trips and SQLAlchemy statements per order through the real app, in-process.

    Two runs on fresh engines (n_small and n_large orders); the difference divided by
    (n_large - n_small) removes start-up costs (connect, key lookup, first queries).
    """
    import sqlalchemy as sa
    from aiohttp.test_utils import TestClient, TestServer
    from psycopg.pq import Trace
    from sqlalchemy import event

    from adapters.db.engine import make_engine
    from adapters.http.app import init_app
    from adapters.http.keys import HttpConfig
    from ops.wiring import ROUTING

    async def one_run(n: int, tmp: Path) -> dict[str, Any]:
        engine = make_engine(sa_url(db), pool_size=2)
        trace_file = (tmp / f"trace-{n}.txt").open("w")
        traced: list[Any] = []
        statements: collections.Counter[str] = collections.Counter()

        @event.listens_for(engine, "connect")
        def _connect(dbapi_conn: Any, _rec: Any) -> None:
            dbapi_conn.pgconn.trace(trace_file.fileno())
            dbapi_conn.pgconn.set_trace_flags(Trace.SUPPRESS_TIMESTAMPS)
            traced.append(dbapi_conn)

        @event.listens_for(engine, "before_cursor_execute")
        def _stmt(
            conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
        ) -> None:
            head = " ".join(statement.split()[:4])[:60]
            statements[("executemany: " if many else "") + head] += 1

        app = init_app(engine, HttpConfig(admin_token=ADMIN_TOKEN), routing=ROUTING, threads=1)
        rng = random.Random(f"rt-{n}")
        make_body = BodyMaker()
        async with TestClient(TestServer(app)) as client:
            for k in range(n):
                resp = await client.post(
                    "/v1/orders",
                    data=make_body(f"rt-{n}-{k}-{uuid.uuid4().hex[:8]}", two_skus(rng, skus)),
                    headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
                )
                assert resp.status == 201, await resp.text()
        for c in traced:
            with contextlib.suppress(Exception):
                c.pgconn.untrace()
        engine.dispose()
        trace_file.close()
        counted = count_trace(tmp / f"trace-{n}.txt")
        return {**counted, "statements": statements}

    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        small = asyncio.run(one_run(n_small, tmp))
        large = asyncio.run(one_run(n_large, tmp))
    per = n_large - n_small
    out: dict[str, Any] = {
        k: (large[k] - small[k]) / per for k in ("round_trips", "simple_queries", "syncs")
    }
    out["statements"] = {
        k: (large["statements"][k] - small["statements"].get(k, 0)) / per
        for k in large["statements"]
        if large["statements"][k] - small["statements"].get(k, 0)
    }
    _ = sa
    return out


def raw_round_trips(
    db: str, writer: RawWriter, skus: list[str], notify: bool, n: int = 50
) -> dict[str, Any]:
    from psycopg.pq import Trace

    rng = random.Random("raw-rt")
    with tempfile.TemporaryDirectory() as tmpdir:
        path = Path(tmpdir) / "raw.txt"
        with psycopg.connect(raw_dsn(db)) as conn, path.open("w") as f:
            for k in range(5):  # warm (auto-prepare threshold)
                writer.place(
                    conn, f"rtw-{notify}-{k}-{uuid.uuid4().hex[:8]}", two_skus(rng, skus), notify
                )
            conn.pgconn.trace(f.fileno())
            conn.pgconn.set_trace_flags(Trace.SUPPRESS_TIMESTAMPS)
            for k in range(n):
                writer.place(
                    conn, f"rt-{notify}-{k}-{uuid.uuid4().hex[:8]}", two_skus(rng, skus), notify
                )
            conn.pgconn.untrace()
        counted = count_trace(path)
    return {k: v / n for k, v in counted.items()}


# ----------------------------------------------------------------------------
# py-spy: where the API process spends its time
# ----------------------------------------------------------------------------


def frame_path(frame: str) -> str:
    """The file of a py-spy frame "function (path/file.py:line)"."""
    inner = frame[frame.rfind("(") + 1 :]
    return inner.rsplit(":", 1)[0]


def _top(frame: str) -> str:
    return frame_path(frame).split("/", 1)[0]


CATEGORIES: tuple[tuple[str, Callable[[str], bool]], ...] = (
    # (category, predicate on a frame); the leaf-most frame that matches decides
    (
        "psycopg (adapt params, send, read results)",
        lambda f: _top(f) in ("psycopg", "psycopg_c", "psycopg_binary"),
    ),
    (
        "SQLAlchemy (execute, compile cache, params, results, pool)",
        lambda f: _top(f) == "sqlalchemy",
    ),
    ("pydantic (validate, model_dump)", lambda f: _top(f) in ("pydantic", "pydantic_core")),
    ("JSON encode/decode (json module)", lambda f: _top(f) == "json"),
    (
        "HTTP (aiohttp, multidict, yarl)",
        lambda f: _top(f) in ("aiohttp", "multidict", "yarl", "propcache"),
    ),
    (
        "thread pool hand-off (concurrent.futures, threading, queue)",
        lambda f: (
            frame_path(f).startswith("concurrent/") or _top(f) in ("threading.py", "queue.py")
        ),
    ),
    ("event loop (asyncio, selectors)", lambda f: _top(f) in ("asyncio", "selectors.py")),
    ("product: domain (normalize, allocate, events)", lambda f: _top(f) == "domain"),
    ("product: outbox writer, routing", lambda f: _top(f) == "outbox"),
    (
        "product: adapters (http handlers, db repositories, mapping)",
        lambda f: _top(f) == "adapters",
    ),
)

INCLUSIVE = (
    ("event loop: post_order handler (parse, validate, respond)", "post_order (adapters"),
    ("  PlaceOrder.model_validate", "BaseModel.model_validate ("),
    ("  json loads of the body", "loads (adapters/http/jsonutil"),
    ("  order_json + dumps (response)", "order_json ("),
    ("event loop: aiohttp request handling (all)", "RequestHandler.start ("),
    ("DB thread: place_order (all)", "place_order (domain"),
    ("  build_order (normalize)", "build_order ("),
    ("  inventory lock + read", "read_stock ("),
    ("  orders.add (3 inserts)", "SqlOrderRepository.add ("),
    ("  event payloads (pydantic models)", "accepted (domain"),
    ("  outbox write_events", "write_events ("),
    ("  UoW enter (pool checkout, pre-ping, BEGIN)", "SqlUnitOfWork.__enter__ ("),
    ("  UoW commit (COMMIT)", "Connection.commit ("),
    ("SQLAlchemy Connection.execute (all)", "Connection.execute (sqlalchemy"),
    ("  of which psycopg cursor.execute/executemany", "Cursor.execute (psycopg"),
    ("  of which psycopg executemany", "Cursor.executemany (psycopg"),
    ("SQLAlchemy compile (cache misses)", "SQLCompiler.__init__ ("),
    ("ThreadPoolExecutor.submit + future callbacks", "ThreadPoolExecutor.submit ("),
)


def classify_stack(frames: list[str]) -> str:
    for frame in reversed(frames):  # leaf first
        for name, pred in CATEGORIES:
            if pred(frame):
                return name
    return "other (stdlib: uuid, datetime, decimal, logging, ...)"


def load_raw_profile(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        stacks.append((stack.split(";"), int(count)))
    return stacks


BUSY = ("post_order (adapters", "RequestHandler.start (aiohttp", "_WorkItem.run (concurrent")
WAITING = "waiting in psycopg (round trip + server work + lock waits + GIL re-acquire)"


def summarize_profile(path: Path, *, busy_only: bool = False) -> dict[str, Any]:
    """Shares of samples: self time by category, inclusive by function, per statement site.

    busy_only keeps the samples of threads serving a request (idle pool threads
    and the event loop waiting in select() are dropped) and books a psycopg wait
    as waiting, not as psycopg work.
    """
    stacks = load_raw_profile(path)
    if busy_only:
        stacks = [(f, c) for f, c in stacks if any(b in x for x in f for b in BUSY)]
    total = sum(c for _, c in stacks) or 1
    by_cat: collections.Counter[str] = collections.Counter()
    sites: collections.Counter[str] = collections.Counter()
    hot: collections.Counter[str] = collections.Counter()
    for frames, count in stacks:
        if busy_only and frames[-1].startswith("Connection.wait (psycopg"):
            by_cat[WAITING] += count
        else:
            by_cat[classify_stack(frames)] += count
        hot[frames[-1]] += count
        for i, f in enumerate(frames):
            if f.startswith("Connection.execute (sqlalchemy") and i:
                sites[frames[i - 1]] += count
                break
    inclusive = {
        label: sum(c for frames, c in stacks if any(needle in f for f in frames)) / total
        for label, needle in INCLUSIVE
    }
    return {
        "samples": total,
        "self_by_category": {k: v / total for k, v in by_cat.most_common()},
        "inclusive": inclusive,
        "statement_sites": {k: v / total for k, v in sites.most_common()},
        "top_leaf_frames": [(k, v / total) for k, v in hot.most_common(15)],
    }


def py_spy_path() -> str | None:
    candidate = Path(sys.executable).parent / "py-spy"
    return str(candidate) if candidate.exists() else shutil.which("py-spy")


# ----------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------


def median(xs: list[float]) -> float:
    xs = [x for x in xs if x == x]
    return statistics.median(xs) if xs else float("nan")


def summarize(windows: list[Window], clients: list[int]) -> list[dict[str, Any]]:
    rows = []
    for c in clients:
        by = {
            m: [w for w in windows if w.clients == c and w.mode == m]
            for m in ("api", "raw", "raw+notify")
        }
        api = [w.rate for w in by["api"]]
        raw = [w.rate for w in by["raw"]]
        rawn = [w.rate for w in by["raw+notify"]]
        ratios = [a / r for a, r in zip(api, raw, strict=False) if r]
        costs = [(r - n) / r * 100 for r, n in zip(raw, rawn, strict=False) if r]
        rows.append(
            {
                "clients": c,
                "api": median(api),
                "api_runs": api,
                "raw": median(raw),
                "raw_runs": raw,
                "raw_notify": median(rawn),
                "raw_notify_runs": rawn,
                "ratio": median(ratios),
                "ratio_runs": ratios,
                "notify_cost_pct": median(costs),
                "notify_cost_runs": costs,
                "api_p50": median([w.pct(0.5) for w in by["api"]]),
                "api_p99": median([w.pct(0.99) for w in by["api"]]),
                "raw_p50": median([w.pct(0.5) for w in by["raw"]]),
                "raw_p99": median([w.pct(0.99) for w in by["raw"]]),
                "errors": {
                    m: sum((w.errors for w in ws), collections.Counter()) for m, ws in by.items()
                },
                "cpu_us_per_order": {
                    m: {
                        g: median([w.cpu_us_per_order(g) for w in ws])
                        for g in ("api", "bench", "postgres")
                    }
                    for m, ws in by.items()
                },
            }
        )
    return rows


def fmt_runs(xs: list[float], spec: str = ".0f") -> str:
    return " / ".join(format(x, spec) for x in xs)


def print_table(rows: list[dict[str, Any]]) -> None:
    print()
    print(
        "| clients | api orders/s | raw orders/s | raw+notify orders/s | api/raw | "
        "notify cost | api p50 / p99 ms |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['clients']} | {r['api']:,.0f} | {r['raw']:,.0f} | {r['raw_notify']:,.0f} | "
            f"{r['ratio'] * 100:.0f}% | {r['notify_cost_pct']:.0f}% | "
            f"{r['api_p50']:.1f} / {r['api_p99']:.1f} |"
        )
    print()
    print("each run (interleaved), orders/s:")
    for r in rows:
        print(
            f"  {r['clients']:>2} clients: api {fmt_runs(r['api_runs'])}; raw "
            f"{fmt_runs(r['raw_runs'])}; raw+notify {fmt_runs(r['raw_notify_runs'])}; "
            f"raw p50/p99 {r['raw_p50']:.1f}/{r['raw_p99']:.1f} ms"
        )
    print()
    print(
        "CPU per order, µs (median):  api mode: API process / load generator / PG backends;"
        "  raw mode: bench threads / PG backends"
    )
    for r in rows:
        a = r["cpu_us_per_order"]["api"]
        w = r["cpu_us_per_order"]["raw"]
        print(
            f"  {r['clients']:>2} clients: api {a['api']:.0f} / {a['bench']:.0f} / "
            f"{a['postgres']:.0f};  raw {w['bench']:.0f} / {w['postgres']:.0f}"
        )
    errs = {(r["clients"], m): dict(e) for r in rows for m, e in r["errors"].items() if e}
    if errs:
        print(f"errors / retries: {errs}")


# ----------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=5.0, help="measured seconds per window")
    p.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds per window")
    p.add_argument("--clients", default="1,8,32", help="concurrency levels, comma-separated")
    p.add_argument("--skus", type=int, default=200, help="SKUs (2-line orders over them)")
    p.add_argument("--repeats", type=int, default=2, help="runs of each configuration")
    p.add_argument(
        "--api-procs",
        type=int,
        default=1,
        help="API processes (clients spread over them); the comparison uses 1",
    )
    p.add_argument("--json", type=Path, help="also write the results as JSON here")
    p.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="profile at --profile-clients instead of the comparison table",
    )
    p.add_argument("--profile-clients", type=int, default=8)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    clients = [int(c) for c in args.clients.split(",") if c.strip()]
    skus = sku_names(args.skus)
    run_id = f"{os.getpid()}_{int(time.time()) % 100000}"
    dbs = {"api": f"bench_ingest_api_{run_id}", "raw": f"bench_ingest_raw_{run_id}"}
    log_dir = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    apis: list[ApiProcess] = []

    def _terminate(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _terminate)
    started = time.monotonic()
    try:
        for db in dbs.values():
            create_db(db)
        key = setup_db(dbs["api"], skus)
        setup_db(dbs["raw"], skus)
        for i in range(args.api_procs):
            apis.append(ApiProcess(dbs["api"], log_dir, i))
        for a in apis:
            a.wait_ready()
        api = apis[0]
        template = read_template(dbs["api"], post_template_order(api, key, skus))
        writer = RawWriter(template)
        print(f"product at {product_revision()}; one order writes: {template.counts}", flush=True)
        api_pids = [a.pid for a in apis]
        cpu_groups = {"api": lambda: api_pids, "bench": lambda: [os.getpid()]}

        if args.profile:
            return profile(args, dbs, api, key, skus, writer, cpu_groups)

        windows: list[Window] = []
        modes = ("raw", "api", "raw+notify")
        for rep in range(args.repeats):
            for c in clients:
                order = modes[rep % 3 :] + modes[: rep % 3]
                for mode in order:
                    tag = f"r{run_id}-{rep}-{c}-{mode}"
                    if mode == "api":
                        w = run_api(
                            apis,
                            dbs["api"],
                            key,
                            skus,
                            c,
                            args.seconds,
                            args.warmup,
                            tag,
                            cpu_groups,
                        )
                    else:
                        w = run_raw(
                            dbs["raw"],
                            writer,
                            skus,
                            c,
                            args.seconds,
                            args.warmup,
                            mode == "raw+notify",
                            tag,
                            cpu_groups,
                        )
                    windows.append(w)
                    extra = f" errors {dict(w.errors)}" if w.errors else ""
                    print(
                        f"run {rep + 1} {c:>2} clients {mode:<10} {w.rate:8,.0f} orders/s"
                        f"  p50 {w.pct(0.5):6.1f} ms  p99 {w.pct(0.99):6.1f} ms{extra}",
                        flush=True,
                    )
                    if w.error_samples:
                        print("   e.g. " + w.error_samples[0], flush=True)
        rows = summarize(windows, clients)
        check = verify(dbs)
        print(f"\ncheck: {check}")
        print_table(rows)
        print(
            f"\n{args.seconds:g}s measured (+{args.warmup:g}s warm-up) per window, "
            f"{args.repeats} interleaved runs, {args.skus} SKUs, 2-line orders, "
            f"{args.api_procs} API process(es); "
            f"total {time.monotonic() - started:.0f}s"
        )
        if args.json:
            args.json.write_text(
                json.dumps(
                    {
                        "args": {k: str(v) for k, v in vars(args).items()},
                        "rows": rows,
                        "check": check,
                        "template": template.counts,
                    },
                    indent=2,
                    default=str,
                )
            )
        return 0
    finally:
        for a in apis:
            a.stop()
        for db in dbs.values():
            with contextlib.suppress(Exception):
                drop_db(db)
        shutil.rmtree(log_dir, ignore_errors=True)


def verify(dbs: dict[str, str]) -> dict[str, Any]:
    """Every order allocated, no stock over-reserved, ledger rows as expected."""
    out = {}
    for name, db in dbs.items():
        with psycopg.connect(raw_dsn(db)) as conn:
            statuses = dict(
                conn.execute("SELECT status, count(*) FROM orders GROUP BY status").fetchall()
            )
            bad = conn.execute(
                "SELECT count(*) FROM stock WHERE reserved > on_hand OR reserved < 0"
            ).fetchone()[0]  # type: ignore[index]
            reserved = conn.execute("SELECT sum(reserved) FROM stock").fetchone()[0]  # type: ignore[index]
            held = conn.execute("SELECT sum(quantity) FROM reservations").fetchone()[0]  # type: ignore[index]
            n_orders = sum(statuses.values())
            deliveries = conn.execute("SELECT count(*) FROM outbox_deliveries").fetchone()[0]  # type: ignore[index]
            out[name] = {
                "orders": statuses,
                "stock rows over-reserved": bad,
                "stock reserved == reservations": reserved == held,
                "deliveries per order": round(deliveries / max(n_orders, 1), 2),
            }
    return out


def profile(
    args: argparse.Namespace,
    dbs: dict[str, str],
    api: ApiProcess,
    key: str,
    skus: list[str],
    writer: RawWriter,
    cpu_groups: dict[str, Callable[[], list[int]]],
) -> int:
    out_dir: Path = args.profile
    out_dir.mkdir(parents=True, exist_ok=True)
    c = args.profile_clients
    report: dict[str, Any] = {}

    print("\n== database round trips per order (libpq trace) ==", flush=True)
    prod = product_round_trips(dbs["api"], key, skus)
    raw = raw_round_trips(dbs["raw"], writer, skus, notify=False)
    rawn = raw_round_trips(dbs["raw"], writer, skus, notify=True)
    report["round_trips"] = {"product": prod, "raw": raw, "raw+notify": rawn}
    print(
        f"product: {prod['round_trips']:.1f} round trips/order "
        f"({prod['simple_queries']:.1f} simple queries, {prod['syncs']:.1f} extended)"
    )
    for stmt, n in sorted(prod["statements"].items(), key=lambda kv: -kv[1]):
        print(f"   {n:4.1f} × {stmt}")
    print(
        f"raw:     {raw['round_trips']:.1f} round trips/order; raw+notify {rawn['round_trips']:.1f}"
    )

    print(f"\n== backends and CPU at {c} clients (pg_stat_activity every 10 ms) ==", flush=True)
    for mode in ("api", "raw", "api", "raw"):
        sampler = ActivitySampler(dbs[mode])
        sampler.start()
        try:
            tag = f"prof-{mode}-{uuid.uuid4().hex[:6]}"
            if mode == "api":
                w = run_api(
                    api,
                    dbs["api"],
                    key,
                    skus,
                    c,
                    args.seconds,
                    args.warmup,
                    tag,
                    cpu_groups,
                    sampler,
                )
            else:
                w = run_raw(
                    dbs["raw"],
                    writer,
                    skus,
                    c,
                    args.seconds,
                    args.warmup,
                    False,
                    tag,
                    cpu_groups,
                    sampler,
                )
        finally:
            sampler.close()
        entry = {
            "rate": w.rate,
            "p50": w.pct(0.5),
            "p99": w.pct(0.99),
            "cpu_us_per_order": {g: w.cpu_us_per_order(g) for g in w.cpu},
            "cpu_cores": {g: v / w.seconds for g, v in w.cpu.items()},
            "backends": sampler.averages(),
            "wait_events": dict(sampler.events.most_common(8)),
        }
        report.setdefault(mode, []).append(entry)
        per_order = entry["cpu_us_per_order"]
        print(
            f"{mode}: {w.rate:,.0f} orders/s, p50 {w.pct(0.5):.1f} ms, p99 {w.pct(0.99):.1f}"
            f" ms; CPU µs/order {json.dumps({k: round(v) for k, v in per_order.items()})}"
            f"; cores {json.dumps({k: round(v, 2) for k, v in entry['cpu_cores'].items()})}"
        )
        print("   per order, ms of backend time by state (avg backends / orders per s):")
        for state, avg in entry["backends"].items():
            print(f"   {avg / max(w.rate, 1e-9) * 1000:6.2f} ms  ({avg:5.2f} backends)  {state}")

    spy = py_spy_path()
    if spy is None:
        print("\npy-spy not found (.venv/bin/pip install py-spy): no Python profile")
    else:
        for label, flags in (("gil", ["--gil"]), ("wall", ["--idle"])):
            path = out_dir / f"api-{label}.txt"
            duration = int(args.seconds) + 1
            proc = subprocess.Popen(
                [
                    spy,
                    "record",
                    "--pid",
                    str(api.pid),
                    "--rate",
                    "250",
                    "--format",
                    "raw",
                    "--duration",
                    str(duration),
                    "--nonblocking",
                    "-o",
                    str(path),
                    *flags,
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            time.sleep(0.5)
            tag = f"spy-{label}-{uuid.uuid4().hex[:6]}"
            w = run_api(api, dbs["api"], key, skus, c, duration, 0.3, tag, cpu_groups)
            _, err = proc.communicate(timeout=60)
            if not path.exists():
                print(f"py-spy failed: {err.decode(errors='replace')[-500:]}")
                continue
            summary = summarize_profile(path, busy_only=(label == "wall"))
            report[f"py-spy {label}"] = {"rate_under_profiler": w.rate, **summary}
            what = (
                "the thread holding the GIL: where the API's CPU goes"
                if label == "gil"
                else "threads serving a request, waiting included"
            )
            print(
                f"\n== py-spy {label} ({what}), {summary['samples']} samples, "
                f"{w.rate:,.0f} orders/s under the profiler =="
            )
            print("self time by category:")
            for cat, share in summary["self_by_category"].items():
                print(f"   {share * 100:5.1f}%  {cat}")
            print("inclusive:")
            for lab, share in summary["inclusive"].items():
                print(f"   {share * 100:5.1f}%  {lab}")
            print("by statement (SQLAlchemy execute call site, inclusive):")
            for site, share in list(summary["statement_sites"].items())[:14]:
                print(f"   {share * 100:5.1f}%  {site}")
            print("top leaf frames:")
            for frame, share in summary["top_leaf_frames"][:10]:
                print(f"   {share * 100:5.1f}%  {frame}")
    (out_dir / "profile.json").write_text(json.dumps(report, indent=2, default=str))
    print(f"\nprofile files in {out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
