"""`ordersync maintenance` as a process of its own, stopped as a supervisor stops it."""

from __future__ import annotations

import signal
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.e2e.processes import log_of, start, wait_until
from tests.retention_rows import add_event, lock_waiters

pytestmark = pytest.mark.e2e


def test_sigterm_stops_maintenance_between_two_batches(
    database_url: str, engine: sa.Engine
) -> None:
    """The first batch of 10 waits on a ledger row the test holds locked (seen waiting in
    pg_stat_activity); SIGTERM arrives then. The batch in hand still commits, no other
    starts, the round is audited as stopped, and the process exits 0."""
    with engine.begin() as conn:
        oldest = add_event(conn, age=timedelta(days=40))
        for _ in range(29):
            add_event(conn, age=timedelta(days=30))
    holder = engine.connect()
    held = holder.begin()
    holder.execute(
        sa.text("SELECT 1 FROM outbox_deliveries WHERE id = :id FOR UPDATE"),
        {"id": oldest.deliveries["erp"]},
    )
    process = start(
        "maintenance", "--batch", "10", database_url=database_url, ORDERSYNC_RETENTION_OUTBOX="7d"
    )
    try:
        waiting = "%DELETE FROM outbox_deliveries%"
        wait_until(lambda: lock_waiters(engine, waiting) == 1, 30, "the first batch to wait")
        process.send_signal(signal.SIGTERM)
        wait_until(lambda: "SIGTERM: stopping" in log_of(process), 10, "SIGTERM to be seen")
    finally:
        held.rollback()
        holder.close()
    assert process.wait(30) == 0, log_of(process)
    log = log_of(process)
    assert "outbox prune: deleted 10 events, 40 ledger rows and 40 inbox rows" in log
    assert "stopped between batches" in log
    with engine.connect() as conn:
        left = conn.execute(sa.text("SELECT count(*) FROM outbox_events")).scalar_one()
        entry = conn.execute(
            sa.text("SELECT outcome, detail, counts FROM audit_log ORDER BY id DESC LIMIT 1")
        ).one()
    assert left == 20
    assert entry.outcome == "ok" and "stopped between batches" in entry.detail
    assert entry.counts["outbox_events"] == 10
