"""Dead letters: the record of poison messages, and the source for requeue (RabbitMQ's own
dead-letter queue expires)."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from adapters.db.consumer_tables import dead_letters_table


def add_dead_letter(
    conn: sa.Connection, envelope: dict[str, Any], error: str, attempts: int
) -> None:
    conn.execute(
        insert(dead_letters_table)
        .values(
            destination=envelope["destination"],
            event_id=uuid.UUID(str(envelope["event_id"])),
            generation=envelope["generation"],
            event_type=envelope["event_type"],
            aggregate_type=envelope["aggregate_type"],
            aggregate_id=envelope["aggregate_id"],
            sequence=envelope["sequence"],
            error=error[:4000],
            attempts=attempts,
            envelope=envelope,
        )
        .on_conflict_do_nothing()
    )


def list_dead_letters(conn: sa.Connection, destination: str | None = None) -> list[dict[str, Any]]:
    t = dead_letters_table
    query = sa.select(
        t.c.id,
        t.c.destination,
        t.c.event_type,
        t.c.aggregate_id,
        t.c.sequence,
        t.c.attempts,
        t.c.error,
        t.c.created_at,
    ).order_by(t.c.id)
    if destination:
        query = query.where(t.c.destination == destination)
    return [row._asdict() for row in conn.execute(query)]
