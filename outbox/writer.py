"""The outbox writer: domain events → outbox rows and ledger rows, in the caller's transaction.

Three statements whatever the number of events: the sequence counters (one
upsert), the events (one multi-row insert) and their deliveries (one multi-row
insert, one row per event and destination).
"""

from __future__ import annotations

import functools
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

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


# Statements are built once: SQLAlchemy then compiles each once (its cache), and
# executemany of a single-row INSERT becomes one multi-row statement on the wire
# ("insertmanyvalues"). Building `.values([...])` per call recompiled every time.
_INSERT_EVENTS = sa.insert(events_table)
_INSERT_DELIVERIES = sa.insert(deliveries_table)


@functools.cache
def _sequence_upsert(dialect: str) -> Any:
    t = sequences_table
    stmt = (postgresql if dialect == "postgresql" else sqlite).insert(t)
    return stmt.on_conflict_do_update(
        index_elements=[t.c.aggregate_type, t.c.aggregate_id, t.c.destination],
        set_={"last_sequence": t.c.last_sequence + stmt.excluded.last_sequence},
    ).returning(t.c.aggregate_type, t.c.aggregate_id, t.c.destination, t.c.last_sequence)


def _next_sequences(
    conn: sa.Connection, counts: Counter[tuple[str, str, str]]
) -> dict[tuple[str, str, str], int]:
    """Reserve `n` numbers per (aggregate_type, aggregate_id, destination); returns the first.

    The counter rows stay locked until commit, so writers of the same aggregate
    and destination take numbers in commit order.
    """
    keys = sorted(counts)  # a fixed order: two writers never wait on each other in a cycle
    params = [
        {
            "aggregate_type": a,
            "aggregate_id": i,
            "destination": d,
            "last_sequence": counts[(a, i, d)],
        }
        for a, i, d in keys
    ]
    first = {}
    for agg_type, agg_id, dest, last in conn.execute(_sequence_upsert(conn.dialect.name), params):
        first[(agg_type, agg_id, dest)] = last - counts[(agg_type, agg_id, dest)] + 1
    return first


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
    conn.execute(_INSERT_EVENTS, event_rows)
    if delivery_rows:
        conn.execute(_INSERT_DELIVERIES, delivery_rows)
    if notify and conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_notify(:c, '')"), {"c": NOTIFY_CHANNEL})
    return [event_id for _, event_id, _ in routed]
