"""Retention's statements: batched DELETEs on plain tables (docs/architecture.md, "Retention:
plain tables, pruned in batches"). One call is one batch in the caller's transaction, and
touches at most `limit` outbox events (with their ledger and inbox rows), dead letters or
audit rows.

What may go:

- an outbox event older than the cutoff whose every ledger row is final and unchanged
  since the cutoff: applied or superseded, or dead with its dead letter purged (before the
  cutoff too) and no cursor blocked by it; never an unpublished row, never one selected by a
  replay that is not done or cancelled. The ledger rows go first, each tested again as the
  DELETE reaches it: a replay may have made it pending since the batch was chosen, and
  under READ COMMITTED a DELETE that meets a row changed after its snapshot waits for the
  change to commit, reads the new version and tests the condition on that. Their inbox rows
  go with them; then the events left with no ledger row. Never through the foreign key's ON
  DELETE CASCADE, which takes a ledger row whatever its state.
- a dead letter resolved (requeued or purged) before the cutoff, unless its ledger row is
  still dead: the purged dead letter is what lets that row go.
- an audit row older than the cutoff.
- the raw body of an inbound delivery applied, stale or ignored before the cutoff (its
  row stays: the delivery id still dedups a redelivery, the order keeps its audit trail);
  never a parked or received one's, which a replay still needs.

The consumer cursors and outbox_sequences are never pruned (the architecture notes say
why). A batch walks an index from where the last one stopped (keyset on the events'
(created_at, id), the audit log's (at, id), the dead letters' id), so no batch reads again
what an earlier one kept; its rows are locked FOR UPDATE SKIP LOCKED, so two prunes at once
share the work instead of waiting on each other.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

# A replay in these states has released what it selected: its rows are the ledger's again.
_FINISHED_REPLAYS = "('done', 'cancelled')"

# A ledger row `d` that may be pruned with the cutoff :cutoff (every column tested is NOT
# NULL and every subquery an EXISTS, so the condition is never NULL).
_FINAL = f"""(
    d.published_at IS NOT NULL AND d.updated_at < :cutoff
    AND (d.replay_id IS NULL OR EXISTS (
        SELECT 1 FROM replays r WHERE r.id = d.replay_id AND r.state IN {_FINISHED_REPLAYS}))
    AND (d.status IN ('applied', 'superseded')
         OR d.status = 'dead'
            AND EXISTS (
                SELECT 1 FROM dead_letters l
                WHERE l.destination = d.destination AND l.event_id = d.event_id
                  AND l.generation = d.generation AND l.purged_at < :cutoff)
            AND NOT EXISTS (
                SELECT 1 FROM consumer_cursors c
                WHERE c.destination = d.destination AND c.aggregate_type = d.aggregate_type
                  AND c.aggregate_id = d.aggregate_id AND c.blocked_by = d.event_id)))"""

# OFFSET 0 keeps each NOT EXISTS a lookup per event through the ledger's (event_id, ...)
# index. Without it PostgreSQL may turn the NOT EXISTS into an anti-join, and where nearly
# every ledger row is final (the usual case) it estimates few non-final rows and reads the
# whole ledger once a batch to find them (EXPLAIN showed it on 160,000 rows).
_EVENTS = f"""
SELECT e.id, e.event_id, e.created_at FROM outbox_events e
WHERE e.created_at < :cutoff AND (e.created_at, e.id) > (:after_at, :after_id)
  AND NOT EXISTS (
      SELECT 1 FROM outbox_deliveries d WHERE d.event_id = e.event_id AND {_FINAL} IS NOT TRUE
      OFFSET 0)
ORDER BY e.created_at, e.id
LIMIT :limit"""
_LOCK_EVENTS = " FOR UPDATE OF e SKIP LOCKED"

DELETE_DELIVERIES = sa.text(f"""
WITH gone AS (
    DELETE FROM outbox_deliveries d WHERE d.event_id = ANY(:event_ids) AND {_FINAL}
    RETURNING d.destination, d.event_id
)
SELECT count(*) AS n, array_agg(destination) AS destinations, array_agg(event_id) AS event_ids
FROM gone""")
# (destination, event_id) pairs from unnest: the planner sees how many and keeps to the
# primary key, where a join on the CTE above switched to a scan of the whole inbox at
# 2,000 events a batch.
DELETE_INBOX = sa.text("""
DELETE FROM inbox WHERE (destination, event_id) IN (
    SELECT * FROM unnest(CAST(:destinations AS varchar[]), CAST(:event_ids AS uuid[])))""")
DELETE_EVENTS = sa.text("""
DELETE FROM outbox_events e WHERE e.id = ANY(CAST(:ids AS bigint[]))
  AND NOT EXISTS (
      SELECT 1 FROM outbox_deliveries d WHERE d.event_id = e.event_id OFFSET 0)""")
COUNT_DELIVERIES = sa.text("""
SELECT count(DISTINCT d.id) AS deliveries, count(i.event_id) AS inbox
FROM outbox_deliveries d
LEFT JOIN inbox i ON i.destination = d.destination AND i.event_id = d.event_id
WHERE d.event_id = ANY(:event_ids)""")

_DEAD_LETTERS = """
SELECT l.id, l.created_at FROM dead_letters l
WHERE l.id > :after_id AND greatest(l.requeued_at, l.purged_at) < :cutoff
  AND NOT EXISTS (
      SELECT 1 FROM outbox_deliveries d
      WHERE d.event_id = l.event_id AND d.destination = l.destination AND d.status = 'dead'
      OFFSET 0)
ORDER BY l.id
LIMIT :limit"""
_AUDIT = """
SELECT a.id, a.at FROM audit_log a
WHERE a.at < :cutoff AND (a.at, a.id) > (:after_at, :after_id)
ORDER BY a.at, a.id
LIMIT :limit"""
_LOCK = " FOR UPDATE SKIP LOCKED"


def _selects(text: str, lock: str) -> dict[bool, sa.TextClause]:
    """A batch's choice of rows: read only (a dry run), or locked for deleting."""
    return {True: sa.text(text), False: sa.text(text + lock)}


CHOOSE_EVENTS = _selects(_EVENTS, _LOCK_EVENTS)
CHOOSE_DEAD_LETTERS = _selects(_DEAD_LETTERS, _LOCK)
CHOOSE_AUDIT = _selects(_AUDIT, _LOCK)
_RAW_PAYLOADS = """
SELECT i.id, i.applied_at FROM inbound_deliveries i
WHERE i.id > :after_id AND i.state IN ('applied', 'stale', 'ignored')
  AND i.applied_at < :cutoff AND i.body IS NOT NULL
ORDER BY i.id
LIMIT :limit"""
CHOOSE_RAW_PAYLOADS = _selects(_RAW_PAYLOADS, _LOCK)
REMOVE_RAW_PAYLOADS = sa.text("""
UPDATE inbound_deliveries SET body = NULL, body_removed_at = now()
WHERE id = ANY(CAST(:ids AS bigint[]))""")
DELETE_DEAD_LETTERS = sa.text("DELETE FROM dead_letters WHERE id = ANY(CAST(:ids AS bigint[]))")
DELETE_AUDIT = sa.text("DELETE FROM audit_log WHERE id = ANY(CAST(:ids AS bigint[]))")


@dataclass(frozen=True, slots=True)
class Position:
    """Where a batch starts: after this (time, id) of its table's walk."""

    at: datetime
    id: int


START = Position(datetime(1, 1, 1, tzinfo=UTC), 0)


@dataclass(frozen=True, slots=True)
class Batch:
    """The rows one batch removed per table (in a dry run: would remove), and where the next
    batch starts; None when the walk has reached the cutoff."""

    rows: dict[str, int]
    next: Position | None


BatchStep = Callable[[sa.Connection, datetime, Position, int, bool], Batch]


def outbox_batch(
    conn: sa.Connection, cutoff: datetime, after: Position, limit: int, dry_run: bool
) -> Batch:
    """Up to `limit` final events older than `cutoff`, with their ledger and inbox rows."""
    params = {"cutoff": cutoff, "after_at": after.at, "after_id": after.id, "limit": limit}
    chosen = conn.execute(CHOOSE_EVENTS[dry_run], params).all()
    if not chosen:
        return Batch({"outbox_events": 0, "outbox_deliveries": 0, "inbox": 0}, None)
    event_ids = [row.event_id for row in chosen]
    following = Position(chosen[-1].created_at, chosen[-1].id) if len(chosen) == limit else None
    if dry_run:
        counted = conn.execute(COUNT_DELIVERIES, {"event_ids": event_ids}).one()
        rows = {"outbox_deliveries": counted.deliveries, "inbox": counted.inbox}
        return Batch({"outbox_events": len(chosen), **rows}, following)
    gone = conn.execute(DELETE_DELIVERIES, {"event_ids": event_ids, "cutoff": cutoff}).one()
    inbox = 0
    if gone.n:
        pairs = {"destinations": gone.destinations, "event_ids": gone.event_ids}
        inbox = conn.execute(DELETE_INBOX, pairs).rowcount
    events = conn.execute(DELETE_EVENTS, {"ids": [row.id for row in chosen]}).rowcount
    return Batch({"outbox_events": events, "outbox_deliveries": gone.n, "inbox": inbox}, following)


def dead_letters_batch(
    conn: sa.Connection, cutoff: datetime, after: Position, limit: int, dry_run: bool
) -> Batch:
    """Up to `limit` dead letters resolved before `cutoff` whose ledger row is not dead."""
    params = {"cutoff": cutoff, "after_id": after.id, "limit": limit}
    chosen = conn.execute(CHOOSE_DEAD_LETTERS[dry_run], params).all()
    return _delete(conn, "dead_letters", DELETE_DEAD_LETTERS, chosen, limit, dry_run)


def audit_batch(
    conn: sa.Connection, cutoff: datetime, after: Position, limit: int, dry_run: bool
) -> Batch:
    """Up to `limit` audit rows older than `cutoff`."""
    params = {"cutoff": cutoff, "after_at": after.at, "after_id": after.id, "limit": limit}
    chosen = conn.execute(CHOOSE_AUDIT[dry_run], params).all()
    return _delete(conn, "audit_log", DELETE_AUDIT, chosen, limit, dry_run)


def raw_payloads_batch(
    conn: sa.Connection, cutoff: datetime, after: Position, limit: int, dry_run: bool
) -> Batch:
    """Up to `limit` inbound deliveries final before `cutoff`: their raw bodies removed
    (personal data does not stay forever), the rows kept."""
    params = {"cutoff": cutoff, "after_id": after.id, "limit": limit}
    chosen = conn.execute(CHOOSE_RAW_PAYLOADS[dry_run], params).all()
    return _delete(conn, "inbound_deliveries", REMOVE_RAW_PAYLOADS, chosen, limit, dry_run)


def _delete(
    conn: sa.Connection,
    table: str,
    statement: sa.TextClause,
    chosen: Sequence[Any],
    limit: int,
    dry_run: bool,
) -> Batch:
    """Delete the rows a batch chose (id, time) and locked; nothing in a dry run."""
    following = Position(chosen[-1][1], chosen[-1][0]) if len(chosen) == limit else None
    if chosen and not dry_run:
        conn.execute(statement, {"ids": [row[0] for row in chosen]})
    return Batch({table: len(chosen)}, following)


PRUNED_TABLES = (
    "outbox_events",
    "outbox_deliveries",
    "inbox",
    "dead_letters",
    "audit_log",
    "inbound_deliveries",  # raw bodies removed, rows kept
)


def vacuum(engine: sa.Engine, tables: list[str]) -> None:
    """VACUUM (ANALYZE), never FULL: the space of deleted rows is reused, the planner's
    figures are fresh, and writers go on meanwhile (FULL would lock them out)."""
    unknown = set(tables) - set(PRUNED_TABLES)
    if unknown:
        raise ValueError(f"not a pruned table: {', '.join(sorted(unknown))}")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in tables:
            conn.exec_driver_sql(f"VACUUM (ANALYZE) {table}")
