"""Retention while everything runs: a prune never deletes a ledger row that is not final at
the moment it deletes it, whatever commits meanwhile; and its batches read the big tables
through their indexes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from adapters.db import registry, retention
from adapters.db.uow import SqlUnitOfWork
from domain.commands import AdjustInventory, PlaceOrder
from domain.services import adjust_inventory, place_order
from ops.pruning import Ages, Report, prune
from ops.wiring import ROUTING
from tests.factories import order_doc
from tests.retention_rows import add_event, lock_waiters

OLD = timedelta(days=30)
WEEK = timedelta(days=7)


def scalar(engine: sa.Engine, sql: str, **params: Any) -> Any:
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar_one()


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 20) -> None:
    """A bound on waiting for something the test arranged, not a timing."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_a_delivery_made_pending_while_its_batch_deletes_is_kept_with_its_event(
    engine: sa.Engine,
) -> None:
    """A replay makes one delivery of a chosen event pending again and commits while the
    prune's DELETE waits on that row (seen waiting in pg_stat_activity): the DELETE reads
    the row again, finds it pending and keeps it, and the event stays with it."""
    with engine.begin() as conn:
        raced = add_event(conn, age=OLD)
        others = [add_event(conn, age=OLD) for _ in range(5)]
    replay = engine.connect()
    replay_tx = replay.begin()
    replay.execute(
        sa.text(
            "UPDATE outbox_deliveries SET status = 'pending', published_at = NULL,"
            " updated_at = now() WHERE id = :id"
        ),
        {"id": raced.deliveries["erp"]},
    )
    reports: list[Report] = []
    pruning = threading.Thread(
        target=lambda: reports.append(prune(engine, Ages(outbox=WEEK), dedup_window=WEEK))
    )
    pruning.start()
    try:
        wait_for(
            lambda: lock_waiters(engine, "%DELETE FROM outbox_deliveries%") == 1,
            "the prune to wait",
        )
        replay_tx.commit()
    finally:
        replay.close()
        pruning.join(30)
    assert reports, "the prune did not finish"
    with engine.connect() as conn:
        statuses: dict[str, str] = dict(
            conn.execute(
                sa.text("SELECT destination, status FROM outbox_deliveries WHERE event_id = :e"),
                {"e": raced.event_id},
            ).all()
        )
        inbox = conn.execute(
            sa.text("SELECT destination FROM inbox WHERE event_id = :e"), {"e": raced.event_id}
        ).scalars()
        others_left = scalar(engine, "SELECT count(*) FROM outbox_events") - 1
    assert statuses == {"erp": "pending"}  # its three applied deliveries went
    assert list(inbox) == ["erp"]  # the kept delivery's inbox row stays with it
    assert others_left == 0
    assert reports[0].rows["outbox_events"] == len(others)
    assert reports[0].rows["outbox_deliveries"] == 4 * len(others) + 3


AUDIT_TRIGGERS = """
CREATE TABLE deleted_deliveries AS
    SELECT *, clock_timestamp() AS deleted_at FROM outbox_deliveries WITH NO DATA;
CREATE TABLE inserted_deliveries (id bigint PRIMARY KEY);
CREATE FUNCTION log_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO deleted_deliveries SELECT OLD.*, clock_timestamp(); RETURN OLD; END $$;
CREATE FUNCTION log_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO inserted_deliveries VALUES (NEW.id); RETURN NEW; END $$;
CREATE TRIGGER log_deleted BEFORE DELETE ON outbox_deliveries
    FOR EACH ROW EXECUTE FUNCTION log_deleted();
CREATE TRIGGER log_inserted AFTER INSERT ON outbox_deliveries
    FOR EACH ROW EXECUTE FUNCTION log_inserted();
"""
# What a relay and the workers do to the ledger: publish, then apply (with the inbox row).
PUBLISH = """
WITH c AS (SELECT id FROM outbox_deliveries WHERE published_at IS NULL
           ORDER BY id LIMIT 50 FOR UPDATE SKIP LOCKED)
UPDATE outbox_deliveries d SET status = 'published', published_at = now(), updated_at = now()
FROM c WHERE d.id = c.id"""
APPLY = """
WITH c AS (SELECT id FROM outbox_deliveries WHERE status = 'published'
           ORDER BY id LIMIT 50 FOR UPDATE SKIP LOCKED),
applied AS (
    UPDATE outbox_deliveries d SET status = 'applied', applied_at = now(), updated_at = now()
    FROM c WHERE d.id = c.id RETURNING d.destination, d.event_id, d.generation)
INSERT INTO inbox (destination, event_id, generation, applied_at)
SELECT destination, event_id, generation, now() FROM applied ON CONFLICT DO NOTHING"""
# What a replay does to a delivery: pending again, to be published once more. It takes the
# oldest row the prune could take next, to race it.
REOPEN = """
UPDATE outbox_deliveries SET status = 'pending', published_at = NULL, updated_at = now()
WHERE id = (SELECT id FROM outbox_deliveries
            WHERE status = 'applied' AND updated_at < now() - interval '1 second'
            ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING id"""


class Traffic:
    """Orders placed through the domain services, a relay and workers moving the ledger, and
    a replay re-opening old deliveries, each in a thread, until stopped."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.stop = threading.Event()
        self.placed = [0, 0]
        self.reopened: list[int] = []
        self.errors: list[BaseException] = []
        self.started = threading.Barrier(5)
        workers = [lambda: self.place("A", 0), lambda: self.place("B", 1), self.move, self.replay]
        self.threads = [threading.Thread(target=self.guarded(w)) for w in workers]

    def guarded(self, work: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                self.started.wait(10)
                work()
            except BaseException as error:  # shown by the test, never a silent thread
                self.errors.append(error)

        return run

    def place(self, sku: str, writer: int) -> None:
        while not self.stop.is_set():
            doc = order_doc(f"{sku}-{self.placed[writer]}", [(sku, 1)])
            uow = SqlUnitOfWork(self.engine, routing=ROUTING)
            place_order(uow, PlaceOrder.model_validate(doc), channel="web")
            self.placed[writer] += 1

    def move(self) -> None:
        while not self.stop.is_set():
            with self.engine.begin() as conn:
                conn.execute(sa.text(PUBLISH))
            with self.engine.begin() as conn:
                conn.execute(sa.text(APPLY))

    def replay(self) -> None:
        while not self.stop.is_set():
            with self.engine.begin() as conn:
                self.reopened += conn.execute(sa.text(REOPEN)).scalars()

    def __enter__(self) -> Traffic:
        for thread in self.threads:
            thread.start()
        self.started.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(30)


def test_prune_under_traffic_deletes_only_rows_final_when_deleted_and_loses_none(
    engine: sa.Engine,
) -> None:
    """Orders flow, a relay and workers publish and apply, a replay re-opens old rows, and
    prune rounds run in batches of 20 with a one-second window (so the traffic's own rows
    become prunable while it runs). Triggers record every ledger row inserted and, as it is
    deleted, the row itself: every deleted row was published, final and unchanged for the
    window; every row inserted is either still there or among those."""
    window = timedelta(seconds=1)
    with engine.begin() as conn:
        conn.execute(sa.text(AUDIT_TRIGGERS))
        registry.add_channel(conn, "web", "canonical")
        registry.add_location(conn, "WH-EAST", "warehouse", 10)
        for _ in range(400):
            add_event(conn, age=OLD)
    adjustments = [{"sku": s, "location": "WH-EAST", "set_on_hand": 10**6} for s in "AB"]
    adjust_inventory(
        SqlUnitOfWork(engine, routing=ROUTING),
        AdjustInventory.model_validate({"adjustments": adjustments}),
    )
    traffic_start = scalar(engine, "SELECT now()")
    rounds: list[tuple[int, int, Report]] = []

    def traffic_pruned() -> int:
        return int(
            scalar(
                engine,
                "SELECT count(*) FROM deleted_deliveries WHERE created_at >= :t",
                t=traffic_start,
            )
        )

    with Traffic(engine) as traffic:
        deadline = time.monotonic() + 30
        while traffic_pruned() == 0 or len(traffic.reopened) < 20 or len(rounds) < 3:
            assert time.monotonic() < deadline, "the traffic's rows never became prunable"
            assert not traffic.errors, traffic.errors
            placed = sum(traffic.placed)
            report = prune(engine, Ages(outbox=window), dedup_window=window, batch=20)
            rounds.append((placed, sum(traffic.placed), report))
    assert not traffic.errors, traffic.errors

    with engine.connect() as conn:
        bad = conn.execute(
            sa.text("""
                SELECT id, status, published_at, updated_at, deleted_at FROM deleted_deliveries
                WHERE status NOT IN ('applied', 'superseded') OR published_at IS NULL
                   OR updated_at >= deleted_at - interval '1 second'""")
        ).all()
        inserted = set(conn.execute(sa.text("SELECT id FROM inserted_deliveries")).scalars())
        present = set(conn.execute(sa.text("SELECT id FROM outbox_deliveries")).scalars())
        deleted = list(conn.execute(sa.text("SELECT id FROM deleted_deliveries")).scalars())
        events_without_deliveries = scalar(
            engine,
            "SELECT count(*) FROM outbox_events e WHERE NOT EXISTS"
            " (SELECT 1 FROM outbox_deliveries d WHERE d.event_id = e.event_id)",
        )
        inbox_of_deleted = scalar(
            engine,
            "SELECT count(*) FROM inbox i JOIN deleted_deliveries g"
            " ON g.destination = i.destination AND g.event_id = i.event_id"
            " WHERE NOT EXISTS (SELECT 1 FROM outbox_deliveries d"
            "   WHERE d.destination = i.destination AND d.event_id = i.event_id)",
        )
    assert bad == []
    assert len(deleted) == len(set(deleted)) and not present & set(deleted)
    assert inserted == present | set(deleted)  # nothing lost, nothing deleted twice
    assert events_without_deliveries == 0 and inbox_of_deleted == 0
    # The race happened: orders were placed while prune rounds ran, the replay re-opened
    # rows the prune could have taken next, and the prune took rows the traffic had made.
    assert any(after > before for before, after, _ in rounds)
    assert traffic_pruned() > 0 and len(traffic.reopened) >= 20
    assert sum(r.rows["outbox_deliveries"] for _, _, r in rounds) == len(deleted)
    assert max(r.largest_batch["outbox"] for _, _, r in rounds) <= 20


SCANS = {
    "choose": ("ix_outbox_events_created_at", "uq_delivery_event_destination"),
    "ledger": ("uq_delivery_event_destination",),
    "inbox": ("inbox_pkey",),
    "events": ("outbox_events_pkey", "uq_delivery_event_destination"),
}


def test_a_batch_reads_the_events_ledger_and_inbox_through_their_indexes(
    engine: sa.Engine,
) -> None:
    """EXPLAIN of each statement of a batch of 100 and of 1,000 events, on 40,000 events
    (160,000 ledger and inbox rows): an index scan on every big table, never a whole one."""
    with engine.begin() as conn:
        conn.execute(
            sa.text("""
            WITH src AS (
                SELECT i, gen_random_uuid() AS ev, 'ord-' || i AS agg,
                       now() - interval '30 days' + i * interval '1 second' AS ts
                FROM generate_series(1, 40000) AS i
            ), events AS (
                INSERT INTO outbox_events (event_id, event_type, event_version, aggregate_type,
                    aggregate_id, aggregate_version, partition, occurred_at, created_at, payload)
                SELECT ev, 'order.accepted', 1, 'order', agg, 1, 0, ts, ts, '{}' FROM src
            ), ledger AS (
                INSERT INTO outbox_deliveries (event_id, destination, aggregate_type,
                    aggregate_id, partition, sequence, status, published_at, applied_at,
                    created_at, updated_at)
                SELECT ev, dest, 'order', agg, 0, 1, 'applied', ts, ts, ts, ts
                FROM src CROSS JOIN unnest(ARRAY['erp', 'wms', 'crm', 'channel:web']) AS dest
                RETURNING destination, event_id
            )
            INSERT INTO inbox (destination, event_id, generation, applied_at)
            SELECT destination, event_id, 0, now() FROM ledger""")
        )
        conn.execute(sa.text("ANALYZE"))
        cutoff = scalar(engine, "SELECT now() - interval '7 days'")
        for batch in (100, 1000):
            for step, plan in batch_plans(conn, cutoff, batch).items():
                for big in ("outbox_events", "outbox_deliveries", "inbox"):
                    assert f"Seq Scan on {big}" not in plan, f"{step}, {batch}:\n{plan}"
                for index in SCANS[step]:
                    assert f"using {index}" in plan or f"on {index}" in plan, f"{step}:\n{plan}"


def batch_plans(conn: sa.Connection, cutoff: Any, batch: int) -> dict[str, str]:
    """The plan of each statement of the first batch of `batch` events."""
    params = {
        "cutoff": cutoff,
        "after_at": retention.START.at,
        "after_id": retention.START.id,
        "limit": batch,
    }
    chosen = conn.execute(retention.CHOOSE_EVENTS[True], params).all()
    assert len(chosen) == batch
    event_ids = [row.event_id for row in chosen]
    pairs = conn.execute(
        sa.text("SELECT destination, event_id FROM outbox_deliveries WHERE event_id = ANY(:e)"),
        {"e": event_ids},
    ).all()
    inbox = {"destinations": [p[0] for p in pairs], "event_ids": [p[1] for p in pairs]}
    return {
        "choose": explain(conn, retention.CHOOSE_EVENTS[False], params),
        "ledger": explain(conn, retention.DELETE_DELIVERIES, {"event_ids": event_ids, **params}),
        "inbox": explain(conn, retention.DELETE_INBOX, inbox),
        "events": explain(conn, retention.DELETE_EVENTS, {"ids": [r.id for r in chosen]}),
    }


def explain(conn: sa.Connection, statement: sa.TextClause, params: dict[str, Any]) -> str:
    rows = conn.execute(sa.text("EXPLAIN " + statement.text), params).scalars()
    return "\n".join(rows)
