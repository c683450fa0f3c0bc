"""The outbox writer: domain events → outbox rows and ledger rows, in the caller's transaction.

Three statements whatever the number of events: the sequence counters (one
upsert), the events (one multi-row insert) and their deliveries (one multi-row
insert, one row per event and destination).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from domain.events import DomainEvent
from outbox.partition import partition_of
from outbox.routing import destinations, needs_channel_list
from outbox.tables import deliveries_table, events_table, sequences_table


@dataclass(frozen=True, slots=True)
class TraceContext:
    """Where a change came from: carried on every outbox row it writes."""

    correlation_id: str | None = None
    causation_id: str | None = None
    traceparent: str | None = None
    tracestate: str | None = None


NOTIFY_CHANNEL = "ordersync_outbox"


def _next_sequences(
    conn: sa.Connection, counts: Counter[tuple[str, str, str]]
) -> dict[tuple[str, str, str], int]:
    """Reserve `n` numbers per (aggregate_type, aggregate_id, destination); returns the first."""
    keys = sorted(counts)  # a fixed order: two writers never wait on each other's counters
    values = sa.values(
        sa.column("aggregate_type", sa.String),
        sa.column("aggregate_id", sa.String),
        sa.column("destination", sa.String),
        sa.column("n", sa.Integer),
        name="v",
    ).data([(*k, counts[k]) for k in keys])
    dialect = conn.dialect.name
    insert_fn = _dialect_insert(dialect)
    select = sa.select(
        values.c.aggregate_type, values.c.aggregate_id, values.c.destination, values.c.n
    )
    if dialect == "sqlite":
        select = select.where(sa.true())  # SQLite's upsert-from-select parse ambiguity
    stmt = insert_fn(sequences_table).from_select(
        ["aggregate_type", "aggregate_id", "destination", "last_sequence"], select
    )
    t = sequences_table
    stmt = stmt.on_conflict_do_update(
        index_elements=[t.c.aggregate_type, t.c.aggregate_id, t.c.destination],
        set_={"last_sequence": t.c.last_sequence + stmt.excluded.last_sequence},
    ).returning(t.c.aggregate_type, t.c.aggregate_id, t.c.destination, t.c.last_sequence)
    first = {}
    for agg_type, agg_id, dest, last in conn.execute(stmt):
        first[(agg_type, agg_id, dest)] = last - counts[(agg_type, agg_id, dest)] + 1
    return first


def _dialect_insert(dialect: str):  # type: ignore[no-untyped-def]
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def write_events(
    conn: sa.Connection,
    events: Sequence[DomainEvent],
    context: TraceContext,
    channel_names: Callable[[], list[str]],
    *,
    notify: bool = False,
) -> list[uuid.UUID]:
    """Insert the events and one delivery row per routed destination; returns the event ids."""
    if not events:
        return []
    channels = channel_names() if needs_channel_list(events) else []
    routed = [(event, uuid.uuid4(), destinations(event, channels)) for event in events]
    counts: Counter[tuple[str, str, str]] = Counter(
        (e.aggregate_type, e.aggregate_id, d) for e, _, dests in routed for d in dests
    )
    next_seq = _next_sequences(conn, counts) if counts else {}

    event_rows, delivery_rows = [], []
    for event, event_id, dests in routed:
        partition = partition_of(event.aggregate_type, event.aggregate_id)
        event_rows.append(
            {
                "event_id": event_id,
                "event_type": event.event_type,
                "event_version": event.payload.event_version,
                "aggregate_type": event.aggregate_type,
                "aggregate_id": event.aggregate_id,
                "aggregate_version": event.aggregate_version,
                "partition": partition,
                "channel": event.channel,
                "correlation_id": context.correlation_id,
                "causation_id": context.causation_id,
                "traceparent": context.traceparent,
                "tracestate": context.tracestate,
                "occurred_at": event.occurred_at,
                "payload": event.payload.model_dump(mode="json"),
            }
        )
        for dest in dests:
            key = (event.aggregate_type, event.aggregate_id, dest)
            delivery_rows.append(
                {
                    "event_id": event_id,
                    "destination": dest,
                    "aggregate_type": event.aggregate_type,
                    "aggregate_id": event.aggregate_id,
                    "partition": partition,
                    "sequence": next_seq[key],
                    "coalesce_key": event.coalesce_key,
                }
            )
            next_seq[key] += 1
    # Multi-row VALUES (one statement each), not executemany.
    conn.execute(sa.insert(events_table).values(event_rows))
    if delivery_rows:
        conn.execute(sa.insert(deliveries_table).values(delivery_rows))
    if notify and conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_notify(:c, '')"), {"c": NOTIFY_CHANNEL})
    return [event_id for _, event_id, _ in routed]
