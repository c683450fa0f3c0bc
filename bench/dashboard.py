"""Dashboard queries benchmark: what one refresh of GET /dashboard costs the database, and
which plan each of its queries takes, over a ledger of a realistic shape.

    .venv/bin/python -m bench.dashboard [--orders N] [--repeats R]

In a scratch database (migrated, always dropped): 3 channels, --orders orders (1 in 50
backordered, half of those five hours old), 4 events an order (one a shipment.dispatched,
one an inventory.changed) spread evenly over the last 14 days (the ledger retention keeps
about that much), each to 2 destinations — the ledger 8 rows an order, all applied
but the last 1 % (unpublished) and 1 in 500 dead. VACUUM ANALYZE, then each query of the overview
--repeats times in the dashboard's own snapshot (ops/dashboard/snapshot.py: JIT off) and,
interleaved, in a plain transaction with the server's JIT setting (the same-run baseline):
the median milliseconds of each and the plan's access paths (EXPLAIN). The plans
are the point: the ledger's queries must stay on their indexes as it grows.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import statistics
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from bench.common import log, sa_url, scratch, table
from ops.dashboard import compliance, delays, overview, views
from ops.dashboard.snapshot import snapshot

SEED = """
INSERT INTO channels (id, name, kind, api_key_prefix, api_key_hash)
SELECT gen_random_uuid(), 'ch' || c, 'canonical', 'p' || c, 'h' FROM generate_series(1, 3) c;
INSERT INTO orders (id, channel, external_id, fingerprint, status, version, currency, placed_at,
  customer, shipping_address, totals, created_at, updated_at, change_seq)
SELECT md5('o' || i)::uuid, 'ch' || (1 + i % 3), 'E-' || i, 'f',
  CASE WHEN i % 50 = 0 THEN 'backordered' ELSE 'allocated' END, 1,
  CASE WHEN i % 2 = 0 THEN 'EUR' ELSE 'USD' END, now(), '{}', '{}',
  jsonb_build_object('grand_total', (10 + i % 90)::text || '.50'),
  now() - CASE WHEN i % 100 = 0 THEN interval '5 hours' ELSE interval '1 minute' END, now(), i
FROM generate_series(1, :orders) i;
INSERT INTO outbox_events (event_id, event_type, event_version, aggregate_type, aggregate_id,
  aggregate_version, partition, occurred_at, created_at, payload)
SELECT md5('e' || i || '-' || k)::uuid,
  (ARRAY['order.accepted', 'order.allocated', 'shipment.dispatched', 'inventory.changed'])[k],
  1, CASE WHEN k = 4 THEN 'sku' ELSE 'order' END,
  CASE WHEN k = 4 THEN 'SKU-' || (i % 200) ELSE md5('o' || i)::uuid::text END,
  k, i % 16, now(), now() - make_interval(secs => (:orders - i) * 14 * 86400.0 / :orders), '{}'
FROM generate_series(1, :orders) i, generate_series(1, 4) k;
INSERT INTO outbox_deliveries (event_id, destination, aggregate_type, aggregate_id, partition,
  sequence, status, published_at, applied_at, created_at)
SELECT e.event_id, dest, e.aggregate_type, e.aggregate_id, e.partition, e.id::int,
  CASE WHEN e.id > :orders * 4 * 0.99 THEN 'pending' WHEN e.id % 500 = 0 THEN 'dead'
       ELSE 'applied' END,
  CASE WHEN e.id > :orders * 4 * 0.99 THEN NULL ELSE e.created_at END,
  CASE WHEN e.id > :orders * 4 * 0.99 OR e.id % 500 = 0 THEN NULL
       ELSE e.created_at + interval '2 seconds' END,
  e.created_at
FROM outbox_events e, unnest(ARRAY['erp', 'channel:ch1']) dest;
"""


def plan(conn: sa.Connection, run: Callable[[sa.Connection], Any]) -> str:
    """The access paths of every statement `run` sends (EXPLAIN of each, in order)."""
    statements: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if not statement.lstrip().upper().startswith("EXPLAIN"):
            statements.append((statement, params))

    sa.event.listen(conn, "before_cursor_execute", capture)
    try:
        run(conn)
    finally:
        sa.event.remove(conn, "before_cursor_execute", capture)
    paths: list[str] = []
    for statement, params in statements:
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        cursor.execute("EXPLAIN " + statement, params)
        text = "\n".join(row[0] for row in cursor.fetchall())
        found = re.findall(
            r"(Seq Scan on \w+|Index(?: Only)? Scan using \w+|Bitmap Index Scan on \w+)", text
        )
        paths.append(", ".join(dict.fromkeys(found)))
    return " | ".join(paths)


@contextlib.contextmanager
def _reading(engine: sa.Engine, dashboard: bool) -> Iterator[sa.Connection]:
    """The dashboard's own snapshot, or the baseline: a plain REPEATABLE READ transaction."""
    if dashboard:
        with snapshot(engine) as conn:
            yield conn
        return
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            yield conn


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dashboard", description=__doc__)
    parser.add_argument("--orders", type=int, default=5_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    with scratch("ordersync_bench_dashboard") as db:
        engine = sa.create_engine(sa_url(db))
        with engine.begin() as conn:
            for statement in SEED.split(";\n"):
                if statement.strip():
                    conn.execute(sa.text(statement), {"orders": args.orders})
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE"))
            ledger = conn.execute(sa.text("SELECT count(*) FROM outbox_deliveries")).scalar()
        log(f"{args.orders} orders, {ledger} ledger rows")
        now = datetime.now(UTC)
        queries: dict[str, Callable[[sa.Connection], Any]] = {
            "orders per channel and state": overview.orders_by_channel,
            "outbox lag": lambda c: overview.outbox_lag(c, now),
            "dead letters": overview.dead_letters_by_destination,
            "destinations": overview.destinations,
            "delayed orders, money at risk": lambda c: delays.delayed_orders(c, now),
            "SLO compliance": lambda c: compliance.compliance(c, now),
            "the whole overview": lambda c: views.overview_data(c, now),
        }
        took: dict[tuple[str, bool], list[float]] = {}
        paths: dict[str, str] = {}
        # Interleaved, the same-run baseline beside each figure: the same query in a
        # plain transaction, the server's JIT setting left as it is (on by default).
        for _ in range(args.repeats):
            for dashboard in (True, False):
                with _reading(engine, dashboard) as conn:
                    for name, run in queries.items():
                        began = time.perf_counter()
                        run(conn)
                        elapsed = (time.perf_counter() - began) * 1000
                        took.setdefault((name, dashboard), []).append(elapsed)
        with snapshot(engine) as conn:
            for name, run in queries.items():
                paths[name] = plan(conn, run)
        engine.dispose()
    rows = [
        (
            name,
            f"{statistics.median(took[name, True]):.1f}",
            f"{statistics.median(took[name, False]):.1f}",
            paths[name],
        )
        for name in queries
    ]
    headers = ("query", "dashboard's snapshot ms", "JIT as configured ms", "access paths")
    print(table(headers, rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
