"""The outbox writer: domain events → outbox rows and ledger rows, in the caller's transaction.

One statement whatever the number of events (_WRITE): the sequence counters (one
upsert), the events and their deliveries (one row per event and destination). Which
destinations an event has is the `Routing` the caller hands in (the unit of work holds
it; ops.wiring builds the product's).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa

from domain.events import DomainEvent
from outbox.partition import partition_of
from outbox.routing import Routing


@dataclass(frozen=True, slots=True)
class TraceContext:
    """Where a change came from: carried on every outbox row it writes."""

    correlation_id: str | None = None
    causation_id: str | None = None
    traceparent: str | None = None
    tracestate: str | None = None


NOTIFY_CHANNEL = "ordersync_outbox"


def write_events(
    conn: sa.Connection,
    events: Sequence[DomainEvent],
    context: TraceContext,
    channel_names: Callable[[], list[str]],
    *,
    routing: Routing,
    notify: bool = False,
) -> list[uuid.UUID]:
    """Insert the events and one delivery row per routed destination; returns the event ids."""
    if not events:
        return []
    channels = channel_names() if routing.needs_channel_list(events) else []
    counts: Counter[tuple[str, str, str]] = Counter()
    event_ids: list[uuid.UUID] = []
    event_rows: list[dict[str, Any]] = []
    delivery_rows: list[dict[str, Any]] = []
    for event in events:
        event_id = uuid.uuid4()
        event_ids.append(event_id)
        # Each a property computed from the payload: once per event, not per delivery.
        aggregate_type, aggregate_id = event.aggregate_type, event.aggregate_id
        coalesce_key = event.coalesce_key
        partition = partition_of(aggregate_type, aggregate_id)
        event_rows.append(
            {
                "event_id": event_id,
                "event_type": event.event_type,
                "event_version": event.payload.event_version,
                "aggregate_type": aggregate_type,
                "aggregate_id": aggregate_id,
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
        for dest in routing.destinations(event, channels):
            key = (aggregate_type, aggregate_id, dest)
            delivery_rows.append(
                {
                    "event_id": event_id,
                    "destination": dest,
                    "aggregate_type": aggregate_type,
                    "aggregate_id": aggregate_id,
                    "partition": partition,
                    "offset": counts[key],  # this event's place among the key's new rows
                    "coalesce_key": coalesce_key,
                }
            )
            counts[key] += 1
    _write(conn, event_rows, delivery_rows, counts)
    if notify:
        conn.exec_driver_sql("SELECT pg_notify(%s, '')", (NOTIFY_CHANNEL,))
    return event_ids


# The whole write is ONE statement with three JSON parameters, so one round trip, and
# one constant text (parsed once, then a server-side prepared statement). The sequence
# counters are upserted in sorted key order (the order of their row locks), so writers
# of the same aggregate and destination take numbers in commit order; each delivery's
# number is its key's new last number minus the key's row count plus its offset. `ev`
# runs although nothing reads it (PostgreSQL always runs data-modifying CTEs), and the
# foreign key to outbox_events is checked at the end of the statement, after every part
# of it ran. The ledger rows are inserted in (key, sequence) order, so their ids follow
# their sequence numbers within a key: what a replay releases in id order is each
# chain's steps in order.
_WRITE = """
WITH ev AS (
    INSERT INTO outbox_events (event_id, event_type, event_version, aggregate_type,
        aggregate_id, aggregate_version, partition, channel, correlation_id, causation_id,
        traceparent, tracestate, occurred_at, payload)
    SELECT * FROM jsonb_to_recordset(%s::jsonb) AS x(event_id uuid, event_type text,
        event_version smallint, aggregate_type text, aggregate_id text, aggregate_version int,
        partition smallint, channel text, correlation_id text, causation_id text,
        traceparent text, tracestate text, occurred_at timestamptz, payload jsonb)
    RETURNING 1
), seq AS (
    INSERT INTO outbox_sequences (aggregate_type, aggregate_id, destination, last_sequence)
    SELECT * FROM jsonb_to_recordset(%s::jsonb)
        AS c(aggregate_type text, aggregate_id text, destination text, n int)
    ORDER BY 1, 2, 3
    ON CONFLICT (aggregate_type, aggregate_id, destination)
    DO UPDATE SET last_sequence = outbox_sequences.last_sequence + excluded.last_sequence
    RETURNING aggregate_type, aggregate_id, destination, last_sequence
)
INSERT INTO outbox_deliveries (event_id, destination, aggregate_type, aggregate_id,
    partition, sequence, coalesce_key)
SELECT d.event_id, d.destination, d.aggregate_type, d.aggregate_id, d.partition,
    seq.last_sequence - d.n + 1 + d."offset", d.coalesce_key
FROM jsonb_to_recordset(%s::jsonb) AS d(event_id uuid, destination text,
    aggregate_type text, aggregate_id text, partition smallint, "offset" int, n int,
    coalesce_key text)
JOIN seq USING (aggregate_type, aggregate_id, destination)
ORDER BY d.aggregate_type, d.aggregate_id, d.destination, d."offset"
"""


def _write(
    conn: sa.Connection,
    event_rows: list[dict[str, Any]],
    delivery_rows: list[dict[str, Any]],
    counts: Counter[tuple[str, str, str]],
) -> None:
    for row in delivery_rows:
        row["n"] = counts[(row["aggregate_type"], row["aggregate_id"], row["destination"])]
    sequence_rows = [
        {"aggregate_type": a, "aggregate_id": i, "destination": d, "n": n}
        for (a, i, d), n in counts.items()
    ]
    conn.exec_driver_sql(
        _WRITE,
        (_json(event_rows), _json(sequence_rows), _json(delivery_rows)),
    )


def _json(rows: list[dict[str, Any]]) -> str:
    # orjson, as the relay's (outbox/messages.py): json.dumps was half of this function's
    # CPU on the ingest path. The statement reads the text as jsonb and timestamptz, so the
    # rows are the same whichever encoder wrote it (a datetime is ISO 8601 with a T here).
    return orjson.dumps(rows, default=str).decode()
