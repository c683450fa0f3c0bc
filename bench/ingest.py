"""Ingest benchmark: orders/s accepted over HTTP beside the raw rate of the same rows.

    .venv/bin/python -m bench.ingest [--seconds S] [--clients 1,8,32] [--skus N]
                                     [--repeats R] [--api-procs N] [--json FILE]
                                     [--profile DIR]

One run, in two scratch databases (the API's and the raw baseline's), dropped at the end:
a channel, two locations and plenty of stock for every SKU; `ordersync api` as a process
of its own; one template order posted and read back, so the baseline writes exactly its
rows; then, per repeat and concurrency level, interleaved: *raw* (plain psycopg 3, a
thread and a connection per client, one transaction per order), *api* (N aiohttp clients
looping POST /v1/orders), *raw + NOTIFY* (the raw transaction with the relay's
pg_notify). A table of medians (each run beside), the CPU per order of the API process,
the load generator and the PostgreSQL backends.

--profile DIR measures where the time goes instead: round trips per order (libpq trace,
product vs raw), what the backends are doing (pg_stat_activity every 10 ms), and a py-spy
profile of the API process (`pip install py-spy`) by library and by function.
Figures compare within one run only; the ratio is the result.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import random
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import psycopg

from bench.common import (
    ROOT,
    CpuMeter,
    LoggedProcess,
    backend_pids,
    child_env,
    connect,
    create_database,
    drop_database,
    free_port,
    load_raw_profile,
    med,
    ordersync_command,
    py_spy,
    raw_dsn,
    runs,
    sa_url,
    table,
    terminate_on_sigterm,
    wait_until,
)
from ops.wiring import ROUTING
from outbox.partition import partition_of
from tests.factories import order_doc

ADMIN_TOKEN = "bench-admin-token-not-secret"
CHANNEL = "bench"
LOCATIONS = (("WH-EAST", "warehouse", 10), ("STORE-LIS", "store", 50))
ON_HAND = 50_000_000  # per SKU and location: orders never run out
NOTIFY_CHANNEL = "ordersync_outbox"
MODES = ("raw", "api", "raw+notify")
CPU = ("api", "bench", "postgres")


class ApiProcess(LoggedProcess):
    """`ordersync api` on a free port of its own, on the API's database."""

    def __init__(self, db: str, log_dir: Path, index: int = 0, **settings: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = child_env(
            ORDERSYNC_DATABASE_URL=sa_url(db), ORDERSYNC_ADMIN_TOKEN=ADMIN_TOKEN, **settings
        )
        command = [*ordersync_command(), "api", "--host", "127.0.0.1", "--port", str(self.port)]
        super().__init__(f"api-{index}", command, env, log_dir / f"api-{index}.log")

    def wait_ready(self) -> None:
        import httpx

        def ready() -> bool:
            try:
                return httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(ready, 60, "the API", 0.1, self.check)


def product_revision() -> str:
    """The commit measured (read-only git), with a note when product files are modified."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        head = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--", "adapters", "domain", "outbox", "ops")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" (product files modified)" if dirty else "")


def setup_db(db: str, skus: list[str]) -> str:
    """Migrate, register the channel and the locations (the product's own code), add stock."""
    import sqlalchemy as sa

    from adapters.db import registry

    engine = sa.create_engine(sa_url(db))
    try:
        with engine.begin() as conn:
            # Unlimited: the benchmark's clients post as fast as they can.
            key = registry.add_channel(conn, CHANNEL, "canonical", rate_limit_per_minute=0)
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


# -- The template: what one real order wrote -----------------------------------------


# Per-order values the raw writer puts in place of the template's (anything else is
# copied from the real order's rows, so a column added to the product is written too).
# A value is a context key, or ("sql", expression) evaluated by the server.
# (change_seq, the change feed's position, is the writing transaction's id.)
OVERRIDES: dict[str, dict[str, Any]] = {
    "orders": {"id": "order_id", "external_id": "external_id", "created_at": "now"}
    | {"updated_at": "now", "change_seq": ("sql", "pg_current_xact_id()::text::bigint")},
    "order_lines": {"order_id": "order_id", "sku": "line_sku"},
    "reservations": {"id": "new_uuid", "order_id": "order_id", "sku": "line_sku"}
    | {"location": "location", "created_at": "now"},
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
    import httpx

    body = order_document("BENCH-TEMPLATE", (skus[0], skus[1]))
    headers = {"Authorization": f"Bearer {key}", "X-Correlation-ID": "bench-template"}
    response = httpx.post(f"{api.base}/v1/orders", json=body, headers=headers, timeout=10)
    doc: dict[str, Any] = response.json()
    if response.status_code != 201 or doc.get("status") != "allocated":
        raise RuntimeError(f"template order: HTTP {response.status_code}, {doc.get('status')}")
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
            # The template's customer is new (customer.updated); every later order's is
            # the same one, unchanged, and makes no event.
            " AND e.aggregate_type <> 'customer'"
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


def copy_customers(source: str, target: str) -> None:
    """The template order's customer into the raw database: its orders rows name it."""
    with psycopg.connect(raw_dsn(source)) as src, psycopg.connect(raw_dsn(target)) as dst:
        for row in src.execute(
            "SELECT id, email, name, phone, address::text, channel FROM customers"
        ).fetchall():
            dst.execute(
                "INSERT INTO customers (id, email, name, phone, address, channel)"
                " VALUES (%s, %s, %s, %s, %s::jsonb, %s)",
                row,
            )


# -- The raw baseline: plain psycopg 3, one transaction per order --------------------

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
            params = [x for k in sorted(counts) for x in (*k, counts[k])]
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
                ev_params += [event_id, etype, ever, atype, agg_id, version, part, channel]
                ev_params += ["raw-bench", now, text]
                for d in dests:
                    coalesce = f"{prefix}:{agg_id}" if prefix else None
                    del_params += [event_id, d, atype, agg_id, part, first[(atype, agg_id, d)]]
                    del_params.append(coalesce)
                    first[(atype, agg_id, d)] += 1
            conn.execute(self.insert_events, ev_params)
            conn.execute(self.insert_deliveries, del_params)
            if notify:
                conn.execute("SELECT pg_notify(%s, '')", [NOTIFY_CHANNEL])


# -- Measurement windows -------------------------------------------------------------


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


class ActivitySampler(threading.Thread):
    """What the database's backends are doing, sampled every 10 ms while `active`."""

    QUERY = (
        "SELECT state, wait_event_type, wait_event FROM pg_stat_activity WHERE datname = %s"
        " AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
    )

    def __init__(self, db: str) -> None:
        super().__init__(daemon=True)
        self.db, self.samples = db, 0
        self.states: collections.Counter[str] = collections.Counter()
        self.on, self.done = threading.Event(), threading.Event()

    def active(self, on: bool) -> None:
        (self.on.set if on else self.on.clear)()

    def run(self) -> None:
        with connect() as conn:
            while not self.done.wait(0.01):
                if self.on.is_set():
                    self.samples += 1
                    for state, kind, event in conn.execute(self.QUERY, [self.db]).fetchall():
                        self.states[self.classify(state, kind, event)] += 1

    @staticmethod
    def classify(state: str | None, kind: str | None, event: str | None) -> str:
        if state == "active":
            if kind is None:
                return "running statement (CPU)"
            if kind == "Lock":
                return f"waiting on a lock ({event})"
            if kind in ("LWLock", "IO") or (event or "").startswith("WAL"):
                return f"WAL / IO / LWLock ({event})"
            return f"active, waiting {kind}:{event}"
        return {
            "idle in transaction": "in transaction, waiting for the client",
            "idle": "idle (between transactions)",
        }.get(str(state), str(state))

    def close(self) -> None:
        self.done.set()
        self.join(5)

    def averages(self) -> dict[str, float]:
        """Average number of backends in each state."""
        return {k: v / max(self.samples, 1) for k, v in self.states.most_common()}


@dataclass
class Setup:
    """What every window needs: the databases, the API processes, the channel's key."""

    args: argparse.Namespace
    dbs: dict[str, str]
    apis: list[ApiProcess]
    key: str
    skus: list[str]
    writer: RawWriter

    def cpu(self, backends: list[int]) -> CpuMeter:
        api = [a.pid for a in self.apis]
        return CpuMeter(
            {"api": lambda: api, "bench": lambda: [os.getpid()], "postgres": lambda: backends}
        )


def run_raw(
    setup: Setup, clients: int, notify: bool, tag: str, sampler: ActivitySampler | None = None
) -> Window:
    """N threads, one connection each, placing orders with the raw writer."""
    seconds, warmup = setup.args.seconds, setup.args.warmup
    window = Window("raw+notify" if notify else "raw", clients, seconds)
    conns = [psycopg.connect(raw_dsn(setup.dbs["raw"])) for _ in range(clients)]
    meter = setup.cpu([c.info.backend_pid for c in conns])
    lock = threading.Lock()
    start = time.perf_counter() + 0.2
    measure_from, end = start + warmup, start + warmup + seconds
    failures: list[BaseException] = []

    def client(i: int, conn: psycopg.Connection[Any]) -> None:
        rng = random.Random(f"{tag}-{i}")
        lat: list[float] = []
        errors: collections.Counter[str] = collections.Counter()
        try:
            while time.perf_counter() < start:
                time.sleep(0.001)
            k = 0
            while (t0 := time.perf_counter()) < end:
                k += 1
                pair = two_skus(rng, setup.skus)
                for _attempt in range(8):
                    try:
                        setup.writer.place(conn, f"{tag}-{i}-{k}", pair, notify)
                        break
                    except (
                        psycopg.errors.DeadlockDetected,
                        psycopg.errors.SerializationFailure,
                    ) as e:
                        errors[type(e).__name__] += 1
                if measure_from <= (t1 := time.perf_counter()) <= end:
                    lat.append(t1 - t0)
        except BaseException as e:  # reported by the main thread
            failures.append(e)
        with lock:
            window.orders += len(lat)
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


def run_api(
    setup: Setup,
    clients: int,
    tag: str,
    sampler: ActivitySampler | None = None,
    *,
    seconds: float | None = None,
    warmup: float | None = None,
) -> Window:
    """N aiohttp clients looping POST /v1/orders, each on a keep-alive connection of its own."""
    seconds = setup.args.seconds if seconds is None else seconds
    warmup = setup.args.warmup if warmup is None else warmup
    window = Window("api", clients, seconds)
    bases = [a.base for a in setup.apis]
    make_body = BodyMaker()
    headers = {"Authorization": f"Bearer {setup.key}", "Content-Type": "application/json"}

    async def measure() -> None:
        connector = aiohttp.TCPConnector(limit=clients, limit_per_host=clients)
        async with aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(60)
        ) as session:
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
                while (t0 := loop.time()) < end:
                    k += 1
                    body = make_body(f"{tag}-{i}-{k}", two_skus(rng, setup.skus))
                    async with session.post(url, data=body, headers=headers) as resp:
                        payload, status = await resp.read(), resp.status
                    if not measure_from <= (t1 := loop.time()) <= end:
                        continue
                    if status == 201:
                        window.orders += 1
                        window.latencies.append(t1 - t0)
                    else:
                        window.errors[str(status)] += 1
                        if len(window.error_samples) < 3:
                            window.error_samples.append(payload[:300].decode(errors="replace"))

            async def clock() -> None:
                await asyncio.sleep(max(0.0, measure_from - loop.time()))
                # the pool's connections, opened during the warm-up
                meter = setup.cpu(backend_pids(setup.dbs["api"])).start()
                if sampler:
                    sampler.active(True)
                await asyncio.sleep(max(0.0, end - loop.time()))
                window.cpu = meter.stop()
                if sampler:
                    sampler.active(False)

            await asyncio.sleep(max(0.0, start - loop.time()))
            await asyncio.gather(clock(), *(client(i) for i in range(clients)))

    asyncio.run(measure())
    return window


# -- where the time goes (--profile) ------------------------------------------------------


def round_trips(path: Path) -> int:
    """Round trips in a libpq protocol trace: the turns from frontend to backend."""
    turns, last = 0, ""
    for line in path.read_text(errors="replace").splitlines():
        if line[:1] == "B" and last == "F":
            turns += 1
        last = line[:1] if line[:1] in ("F", "B") else last
    return turns


def product_round_trips(setup: Setup, n_small: int = 10, n_large: int = 60) -> float:
    """Round trips per order through the real app, in this process: two runs on fresh
    engines, the difference over (n_large - n_small) leaves start-up costs out."""
    from aiohttp.test_utils import TestClient, TestServer
    from psycopg.pq import Trace
    from sqlalchemy import event

    from adapters.db.engine import make_engine
    from adapters.http.app import init_app
    from adapters.http.keys import HttpConfig

    async def one_run(n: int, path: Path) -> int:
        engine = make_engine(sa_url(setup.dbs["api"]), pool_size=2)
        with path.open("w") as trace:

            @event.listens_for(engine, "connect")
            def traced(dbapi_conn: Any, _record: Any) -> None:
                dbapi_conn.pgconn.trace(trace.fileno())
                dbapi_conn.pgconn.set_trace_flags(Trace.SUPPRESS_TIMESTAMPS)

            app = init_app(engine, HttpConfig(admin_token=ADMIN_TOKEN), routing=ROUTING, threads=1)
            rng, make_body = random.Random(f"rt-{n}"), BodyMaker()
            headers = {"Authorization": f"Bearer {setup.key}", "Content-Type": "application/json"}
            async with TestClient(TestServer(app)) as client:
                for k in range(n):
                    pair = two_skus(rng, setup.skus)
                    body = make_body(f"rt-{n}-{k}-{uuid.uuid4().hex[:8]}", pair)
                    response = await client.post("/v1/orders", data=body, headers=headers)
                    assert response.status == 201, await response.text()
            engine.dispose()
        return round_trips(path)

    with tempfile.TemporaryDirectory() as tmp:
        small, large = (asyncio.run(one_run(n, Path(tmp) / f"{n}.txt")) for n in (n_small, n_large))
    return (large - small) / (n_large - n_small)


def raw_round_trips(setup: Setup, notify: bool, n: int = 50) -> float:
    from psycopg.pq import Trace

    rng = random.Random("raw-rt")
    with tempfile.TemporaryDirectory() as tmp, psycopg.connect(raw_dsn(setup.dbs["raw"])) as conn:
        path = Path(tmp) / "raw.txt"
        for k in range(n + 5):  # 5 unmeasured first (psycopg's auto-prepare threshold)
            if k == 5:
                trace = path.open("w")
                conn.pgconn.trace(trace.fileno())
                conn.pgconn.set_trace_flags(Trace.SUPPRESS_TIMESTAMPS)
            setup.writer.place(
                conn, f"rt-{notify}-{k}-{uuid.uuid4().hex[:8]}", two_skus(rng, setup.skus), notify
            )
        conn.pgconn.untrace()
        trace.close()
        return round_trips(path) / n


# (category, top-level module names of a py-spy frame's file); the leaf-most match decides
CATEGORIES = (
    ("psycopg (adapt params, send, read results)", ("psycopg", "psycopg_c", "psycopg_binary")),
    ("SQLAlchemy (execute, compile cache, params, results, pool)", ("sqlalchemy",)),
    ("pydantic (validate, model_dump)", ("pydantic", "pydantic_core")),
    ("JSON encode/decode (json module)", ("json",)),
    ("HTTP (aiohttp, multidict, yarl)", ("aiohttp", "multidict", "yarl", "propcache")),
    (
        "thread pool hand-off (concurrent.futures, threading, queue)",
        ("concurrent", "threading.py", "queue.py"),
    ),
    ("event loop (asyncio, selectors)", ("asyncio", "selectors.py")),
    ("product: domain (normalize, allocate, events)", ("domain",)),
    ("product: outbox writer, routing", ("outbox",)),
    ("product: adapters (http handlers, db repositories, mapping)", ("adapters",)),
)
INCLUSIVE = (  # (label, a frame that starts so): share of samples with it anywhere in the stack
    ("event loop: post_order handler (parse, validate, respond)", "post_order (adapters"),
    ("DB thread: place_order (all)", "place_order (domain"),
    ("SQLAlchemy Connection.execute (all)", "Connection.execute (sqlalchemy"),
    ("  of which psycopg cursor.execute", "Cursor.execute (psycopg"),
)


def category(frames: list[str]) -> str:
    for frame in reversed(frames):  # leaf first
        top = frame[frame.rfind("(") + 1 :].rsplit(":", 1)[0].split("/", 1)[0]
        for name, modules in CATEGORIES:
            if top in modules:
                return name
    return "other (stdlib: uuid, datetime, decimal, logging, ...)"


def summarize_profile(path: Path) -> dict[str, Any]:
    """Shares of the samples: self time by category, inclusive by function."""
    stacks = load_raw_profile(path)
    total = sum(c for _, c in stacks) or 1
    by_category: collections.Counter[str] = collections.Counter()
    for frames, count in stacks:
        by_category[category(frames)] += count
    inclusive = {
        label: sum(c for frames, c in stacks if any(f.startswith(needle) for f in frames)) / total
        for label, needle in INCLUSIVE
    }
    return {"samples": total, "self": dict(by_category.most_common()), "inclusive": inclusive}


def profile(setup: Setup) -> dict[str, Any]:
    args, report = setup.args, {}
    c = args.profile_clients
    prod = product_round_trips(setup)
    raw, raw_notify = raw_round_trips(setup, False), raw_round_trips(setup, True)
    report["round_trips"] = {"product": prod, "raw": raw, "raw+notify": raw_notify}
    print(f"\nround trips per order: product {prod:.1f}, raw {raw:.1f}, +notify {raw_notify:.1f}")
    print(f"\nbackends and CPU at {c} clients (pg_stat_activity every 10 ms):")
    for mode in ("api", "raw", "api", "raw"):
        sampler = ActivitySampler(setup.dbs[mode])
        sampler.start()
        try:
            tag = f"prof-{mode}-{uuid.uuid4().hex[:6]}"
            api = mode == "api"
            w = run_api(setup, c, tag, sampler) if api else run_raw(setup, c, False, tag, sampler)
        finally:
            sampler.close()
        per_order = {g: round(w.cpu_us_per_order(g)) for g in w.cpu}
        report.setdefault(mode, []).append({"rate": w.rate, "backends": sampler.averages()})
        print(f"{mode}: {w.rate:,.0f} orders/s, p50 {w.pct(0.5):.1f} ms; CPU µs/order {per_order}")
        for state, average in sampler.averages().items():
            print(f"   {average / max(w.rate, 1e-9) * 1000:6.2f} ms an order of backends {state}")
    if (spy := py_spy()) is None:
        print("\npy-spy not found (.venv/bin/pip install py-spy): no Python profile")
        return report
    # --gil: the thread holding the GIL, i.e. where the API process's CPU goes
    path, duration = args.profile / "api-gil.txt", int(args.seconds) + 1
    command = [spy, "record", "--pid", str(setup.apis[0].pid), "--rate", "250", "--gil"]
    command += ["--format", "raw", "--duration", str(duration), "--nonblocking", "-o", str(path)]
    recorder = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(0.5)
    w = run_api(setup, c, f"spy-{uuid.uuid4().hex[:6]}", seconds=duration, warmup=0.3)
    _, err = recorder.communicate(timeout=60)
    if not path.exists():
        print(f"py-spy failed: {err.decode(errors='replace')[-500:]}")
        return report
    report["py-spy"] = summary = summarize_profile(path)
    print(f"\npy-spy --gil, {summary['samples']} samples, {w.rate:,.0f} orders/s under it:")
    for name, count in summary["self"].items():
        print(f"   {100 * count / summary['samples']:5.1f}%  {name}")
    for name, share in summary["inclusive"].items():
        print(f"   {100 * share:5.1f}%  (inclusive) {name}")
    return report


# -- report and main ----------------------------------------------------------------------


def report(windows: list[Window], clients: list[int]) -> list[dict[str, Any]]:
    """Print the table (medians, each run in brackets) and the CPU per order; return both."""
    out, rows = [], []
    for c in clients:
        by = {m: [w for w in windows if w.clients == c and w.mode == m] for m in MODES}
        api, raw, notified = ([w.rate for w in by[m]] for m in ("api", "raw", "raw+notify"))
        ratio = med([a / r for a, r in zip(api, raw, strict=False) if r])
        cost = med([(r - n) / r * 100 for r, n in zip(raw, notified, strict=False) if r])
        p50, p99 = (med([w.pct(q) for w in by["api"]]) for q in (0.5, 0.99))
        rows.append([c, runs(api), runs(raw), runs(notified), f"{ratio:.0%}", f"{cost:.0f}%"])
        rows[-1].append(f"{p50:.1f} / {p99:.1f}")
        cpu = {m: {g: med([w.cpu_us_per_order(g) for w in by[m]]) for g in CPU} for m in by}
        errors = {
            m: dict(sum((w.errors for w in ws), collections.Counter())) for m, ws in by.items()
        }
        out.append({"clients": c, "api": api, "raw": raw, "raw+notify": notified, "ratio": ratio})
        out[-1].update(notify_cost_pct=cost, api_p50=p50, api_p99=p99, cpu_us=cpu, errors=errors)
    headers = ["clients", "api orders/s", "raw orders/s", "raw+notify orders/s", "api/raw"]
    print("\n" + table([*headers, "notify cost", "api p50 / p99 ms"], rows))
    print("CPU per order, µs (median): API process / load generator / PG backends (api mode);")
    print("bench threads / PG backends (raw mode)")
    for r in out:
        a, w = r["cpu_us"]["api"], r["cpu_us"]["raw"]
        print(
            f"  {r['clients']:>2} clients: api {a['api']:.0f} / {a['bench']:.0f} /"
            f" {a['postgres']:.0f};  raw {w['bench']:.0f} / {w['postgres']:.0f}"
        )
        if any(r["errors"].values()):
            print(f"     errors / retries: {r['errors']}")
    return out


def verify(dbs: dict[str, str]) -> dict[str, Any]:
    """Every order allocated, no stock over-reserved, 6 deliveries an order."""
    checks = {
        "stock rows over-reserved": "SELECT count(*) FROM stock WHERE reserved > on_hand",
        "stock reserved == reservations": "SELECT (SELECT sum(reserved) FROM stock)"
        " = (SELECT sum(quantity) FROM reservations)",
        "deliveries per order": "SELECT round((SELECT count(*) FROM outbox_deliveries)"
        " / greatest((SELECT count(*) FROM orders), 1)::numeric, 2)",
    }
    out = {}
    for name, db in dbs.items():
        with connect(db) as conn:
            statuses = dict(conn.execute("SELECT status, count(*) FROM orders GROUP BY status"))
            out[name] = {"orders": statuses}
            out[name] |= {k: conn.execute(q).fetchone()[0] for k, q in checks.items()}
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.ingest", description=(__doc__ or "").split("\n")[0]
    )
    p.add_argument("--seconds", type=float, default=5.0, help="measured seconds per window")
    p.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds per window")
    p.add_argument("--clients", default="1,8,32", help="concurrency levels, comma-separated")
    p.add_argument("--skus", type=int, default=200, help="SKUs (2-line orders over them)")
    p.add_argument("--repeats", type=int, default=2, help="runs of each configuration")
    p.add_argument(
        "--api-procs", type=int, default=1, help="API processes (clients spread over them)"
    )
    p.add_argument("--json", type=Path, help="also write the results as JSON here")
    p.add_argument(
        "--profile", type=Path, metavar="DIR", help="profile instead of the comparison table"
    )
    p.add_argument("--profile-clients", type=int, default=8)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    clients = [int(c) for c in args.clients.split(",") if c.strip()]
    skus = [f"BENCH-{i:04d}" for i in range(args.skus)]
    run_id = uuid.uuid4().hex[:8]
    dbs = {"api": f"bench_ingest_api_{run_id}", "raw": f"bench_ingest_raw_{run_id}"}
    log_dir = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    apis: list[ApiProcess] = []
    started = time.monotonic()
    try:
        for db in dbs.values():
            create_database(db)
        key = setup_db(dbs["api"], skus)
        setup_db(dbs["raw"], skus)
        apis += [ApiProcess(dbs["api"], log_dir, i) for i in range(args.api_procs)]
        for a in apis:
            a.wait_ready()
        template = read_template(dbs["api"], post_template_order(apis[0], key, skus))
        copy_customers(dbs["api"], dbs["raw"])
        setup = Setup(args, dbs, apis, key, skus, RawWriter(template))
        print(f"product at {product_revision()}; one order writes: {template.counts}", flush=True)
        if args.profile:
            args.profile.mkdir(parents=True, exist_ok=True)
            (args.profile / "profile.json").write_text(
                json.dumps(profile(setup), indent=2, default=str)
            )
            return 0
        windows: list[Window] = []
        for rep in range(args.repeats):
            for c in clients:
                for mode in MODES[rep % 3 :] + MODES[: rep % 3]:
                    tag = f"r{run_id}-{rep}-{c}-{mode}"
                    w = (
                        run_api(setup, c, tag)
                        if mode == "api"
                        else run_raw(setup, c, mode == "raw+notify", tag)
                    )
                    windows.append(w)
                    extra = (
                        f" errors {dict(w.errors)} e.g. {w.error_samples[:1]}" if w.errors else ""
                    )
                    print(
                        f"run {rep + 1} {c:>2} clients {mode:<10} {w.rate:8,.0f} orders/s"
                        f"  p50 {w.pct(0.5):6.1f} ms  p99 {w.pct(0.99):6.1f} ms{extra}",
                        flush=True,
                    )
        check = verify(dbs)
        print(f"\ncheck: {check}")
        rows = report(windows, clients)
        print(
            f"\n{args.seconds:g}s measured (+{args.warmup:g}s warm-up) per window,"
            f" {args.repeats} interleaved runs, {args.skus} SKUs, {args.api_procs} API"
            f" process(es); total {time.monotonic() - started:.0f}s"
        )
        if args.json:
            summary = {
                "args": {k: str(v) for k, v in vars(args).items()},
                "rows": rows,
                "check": check,
                "template": template.counts,
            }
            args.json.write_text(json.dumps(summary, indent=2, default=str))
        return 0
    finally:
        for a in apis:
            a.stop()
        for db in dbs.values():
            with contextlib.suppress(Exception):
                drop_database(db)


if __name__ == "__main__":
    with terminate_on_sigterm():
        raise SystemExit(main())
