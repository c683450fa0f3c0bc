"""Outbox, ledger, inbox, dead-letter and audit rows of a chosen age and state, written
directly (the writer stamps now(); retention needs rows from last month)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa

DESTINATIONS = ("erp", "wms", "crm", "channel:web")


@dataclass(frozen=True)
class Seeded:
    event_id: uuid.UUID
    deliveries: dict[str, int]  # destination → ledger id


def add_event(
    conn: sa.Connection,
    *,
    age: timedelta,
    statuses: dict[str, str] | None = None,
    changed: timedelta | None = None,
    replay_id: int | None = None,
) -> Seeded:
    """An event created `age` ago with one ledger row per destination (all `applied` unless
    `statuses` says otherwise), last changed `changed` ago (default: `age`), and an inbox
    row for every delivery a consumer applied or superseded."""
    statuses = {d: "applied" for d in DESTINATIONS} | (statuses or {})
    event_id, aggregate = uuid.uuid4(), f"ord-{uuid.uuid4().hex[:12]}"
    at = {"created": f"now() - interval '{age.total_seconds()} seconds'"}
    at["changed"] = f"now() - interval '{(changed or age).total_seconds()} seconds'"
    conn.execute(
        sa.text(f"""
            INSERT INTO outbox_events (event_id, event_type, event_version, aggregate_type,
                aggregate_id, aggregate_version, partition, occurred_at, created_at, payload)
            VALUES (:event_id, 'order.accepted', 1, 'order', :aggregate, 1, 0,
                {at["created"]}, {at["created"]}, '{{}}')"""),
        {"event_id": event_id, "aggregate": aggregate},
    )
    ids: dict[str, int] = {}
    for destination, status in statuses.items():
        published = status != "pending"
        ids[destination] = conn.execute(
            sa.text(f"""
                INSERT INTO outbox_deliveries (event_id, destination, aggregate_type,
                    aggregate_id, partition, sequence, status, published_at, applied_at,
                    attempts, replay_id, created_at, updated_at)
                VALUES (:event_id, :destination, 'order', :aggregate, 0, 1, :status,
                    CASE WHEN :published THEN {at["created"]} END,
                    CASE WHEN :applied THEN {at["changed"]} END,
                    1, :replay_id, {at["created"]}, {at["changed"]})
                RETURNING id"""),
            {
                "event_id": event_id,
                "destination": destination,
                "aggregate": aggregate,
                "status": status,
                "published": published,
                "applied": status == "applied",
                "replay_id": replay_id,
            },
        ).scalar_one()
        if status in ("applied", "superseded"):
            conn.execute(
                sa.text(f"""
                    INSERT INTO inbox (destination, event_id, generation, applied_at)
                    VALUES (:destination, :event_id, 0, {at["changed"]})"""),
                {"destination": destination, "event_id": event_id},
            )
    return Seeded(event_id, ids)


def add_dead_letter(
    conn: sa.Connection,
    seeded: Seeded,
    destination: str,
    *,
    purged: timedelta | None = None,
    requeued: timedelta | None = None,
) -> int:
    """The dead letter of one of `seeded`'s deliveries, purged and/or requeued so long ago."""

    def ago(age: timedelta | None) -> str:
        return "NULL" if age is None else f"now() - interval '{age.total_seconds()} seconds'"

    return int(
        conn.execute(
            sa.text(f"""
                INSERT INTO dead_letters (destination, event_id, generation, event_type,
                    aggregate_type, aggregate_id, sequence, error, attempts, envelope,
                    created_at, purged_at, requeued_at)
                SELECT d.destination, d.event_id, 0, 'order.accepted', 'order', d.aggregate_id,
                    1, 'rejected: 422', 9, '{{}}', d.created_at, {ago(purged)}, {ago(requeued)}
                FROM outbox_deliveries d WHERE d.id = :id
                RETURNING id"""),
            {"id": seeded.deliveries[destination]},
        ).scalar_one()
    )


def add_replay(conn: sa.Connection, state: str) -> int:
    return int(
        conn.execute(
            sa.text("""
                INSERT INTO replays (mode, state, filter, total, counts, created_by)
                VALUES ('redeliver', :state, '{}', 1, '{}', 'test') RETURNING id"""),
            {"state": state},
        ).scalar_one()
    )


def add_audit_row(conn: sa.Connection, age: timedelta) -> int:
    return int(
        conn.execute(
            sa.text(f"""
                INSERT INTO audit_log (at, actor, via, action, filter, dry_run, counts, outcome)
                VALUES (now() - interval '{age.total_seconds()} seconds', 'ana', 'cli',
                    'dlq.requeue', '{{}}', false, '{{}}', 'ok')
                RETURNING id"""),
        ).scalar_one()
    )


def block_cursor(conn: sa.Connection, seeded: Seeded, destination: str) -> None:
    """The aggregate's cursor at `destination` blocked by the seeded event (a live poison)."""
    conn.execute(
        sa.text("""
            INSERT INTO consumer_cursors (destination, aggregate_type, aggregate_id,
                last_sequence, blocked_by)
            SELECT destination, aggregate_type, aggregate_id, 0, event_id
            FROM outbox_deliveries WHERE id = :id"""),
        {"id": seeded.deliveries[destination]},
    )


def counts(conn: sa.Connection) -> dict[str, int]:
    """Rows per table that retention touches or must leave alone."""
    tables = (
        "outbox_events",
        "outbox_deliveries",
        "inbox",
        "dead_letters",
        "audit_log",
        "consumer_cursors",
        "outbox_sequences",
        "replays",
    )
    query = " UNION ALL ".join(f"SELECT '{t}', count(*) FROM {t}" for t in tables)
    return {t: int(n) for t, n in conn.execute(sa.text(query)).all()}


def surviving_events(conn: sa.Connection) -> set[uuid.UUID]:
    return set(conn.execute(sa.text("SELECT event_id FROM outbox_events")).scalars())


def digest(conn: sa.Connection, *tables: str) -> dict[str, str]:
    """One md5 per table over its rows as text: equal digests, no row changed."""
    query = " UNION ALL ".join(
        f"SELECT '{t}', md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM {t} x"
        for t in tables
    )
    return {str(table): str(md5) for table, md5 in conn.execute(sa.text(query))}


def lock_waiters(engine: sa.Engine, pattern: str) -> int:
    """Backends of this test's database waiting on a lock in a statement LIKE `pattern`:
    the proof that a race the test arranged is happening."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock' AND query LIKE :pattern"
                ),
                {"pattern": pattern},
            ).scalar_one()
        )
