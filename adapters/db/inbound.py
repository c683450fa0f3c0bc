"""The inbound inbox (inbound_deliveries): every verified delivery of every channel, its
raw bytes, and what became of it.

Dedup is the database's: (channel, delivery_id) is unique, and `store` inserts with ON
CONFLICT DO NOTHING — a redelivery, or a copy arriving at the same instant (its insert
waits for the first's commit, then finds it), writes nothing and gets the stored row's
id. Applying claims a row with FOR UPDATE SKIP LOCKED in the applying transaction, so the
door's own applier, the sweeper and a replay never apply one delivery twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from adapters.db.channel_tables import inbound_deliveries as inbox
from adapters.db.tables import channels
from outbox.writer import TraceContext

# Credentials never go into the inbox: a bearer key, a session cookie.
UNSTORED_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
FINAL_STATES = ("applied", "stale", "ignored")


@dataclass(frozen=True, slots=True)
class StoredDelivery:
    id: int
    channel: str
    kind: str
    delivery_id: str
    topic: str
    received_at: datetime
    headers: dict[str, str]
    body: bytes | None
    verification: str
    state: str
    attempts: int
    error: str | None
    external_id: str | None
    order_id: uuid.UUID | None
    applied_at: datetime | None
    body_removed_at: datetime | None
    correlation_id: str | None = None  # the door's (NULL for deliveries stored before 0009)
    traceparent: str | None = None
    tracestate: str | None = None


def storable_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The request's headers as stored: credentials left out, a repeated one joined."""
    kept: dict[str, str] = {}
    for name, value in headers.items():
        if name.lower() in UNSTORED_HEADERS:
            continue
        kept[name] = f"{kept[name]}, {value}" if name in kept else value
    return kept


def store(
    conn: sa.Connection,
    *,
    channel: str,
    kind: str,
    delivery_id: str,
    topic: str,
    headers: Mapping[str, str],
    body: bytes,
    verification: str,
    state: str = "received",
    error: str | None = None,
    context: TraceContext | None = None,
) -> tuple[int, bool]:
    """Insert a delivery unless the channel has it already: (its row id, new). `context`:
    the door's correlation id and trace, which the apply's changes will carry."""
    context = context or TraceContext()
    stmt = (
        insert(inbox)
        .values(
            channel=channel,
            kind=kind,
            delivery_id=delivery_id,
            topic=topic,
            headers=storable_headers(headers),
            body=body,
            verification=verification,
            state=state,
            error=error,
            attempts=1 if state == "parked" else 0,
            correlation_id=context.correlation_id,
            traceparent=context.traceparent,
            tracestate=context.tracestate,
        )
        .on_conflict_do_nothing(index_elements=[inbox.c.channel, inbox.c.delivery_id])
        .returning(inbox.c.id)
    )
    new = conn.execute(stmt).scalar_one_or_none()
    if new is not None:
        return new, True
    existing = conn.execute(
        sa.select(inbox.c.id).where(inbox.c.channel == channel, inbox.c.delivery_id == delivery_id)
    ).scalar_one()
    return existing, False


def _delivery(row: Any) -> StoredDelivery:
    return StoredDelivery(**{name: getattr(row, name) for name in StoredDelivery.__slots__})


def get(conn: sa.Connection, delivery: int) -> StoredDelivery | None:
    row = conn.execute(sa.select(inbox).where(inbox.c.id == delivery)).first()
    return None if row is None else _delivery(row)


def claim(conn: sa.Connection, delivery: int, states: Sequence[str]) -> StoredDelivery | None:
    """The row locked for applying, if it is in one of `states` and nobody holds it."""
    row = conn.execute(
        sa.select(inbox)
        .where(inbox.c.id == delivery, inbox.c.state.in_(list(states)))
        .with_for_update(skip_locked=True)
    ).first()
    return None if row is None else _delivery(row)


def finish(
    conn: sa.Connection,
    delivery: int,
    state: str,
    *,
    note: str | None = None,
    external_id: str | None = None,
    order_id: uuid.UUID | None = None,
) -> None:
    """Mark a claimed row applied, stale or ignored (`note`: why, for the last two)."""
    assert state in FINAL_STATES
    conn.execute(
        sa.update(inbox)
        .where(inbox.c.id == delivery)
        .values(
            state=state,
            error=note,
            attempts=inbox.c.attempts + 1,
            applied_at=sa.func.now(),
            external_id=sa.func.coalesce(external_id, inbox.c.external_id),
            order_id=sa.func.coalesce(order_id, inbox.c.order_id),
        )
    )


def park(conn: sa.Connection, delivery: int, error: str, states: Sequence[str]) -> bool:
    """An inbound dead letter, with its error, unless it left `states` meanwhile (another
    applier got it in): False then."""
    return _failed(conn, delivery, error, states, "parked")


def retry_later(conn: sa.Connection, delivery: int, error: str, states: Sequence[str]) -> bool:
    """Left as it is, with its error and one attempt more, for the sweeper's next round."""
    return _failed(conn, delivery, error, states, None)


def _failed(
    conn: sa.Connection, delivery: int, error: str, states: Sequence[str], state: str | None
) -> bool:
    values: dict[str, Any] = {"error": error[:4000], "attempts": inbox.c.attempts + 1}
    if state is not None:
        values["state"] = state
    done = conn.execute(
        sa.update(inbox)
        .where(inbox.c.id == delivery, inbox.c.state.in_(list(states)))
        .values(values)
        .returning(inbox.c.id)
    )
    return done.first() is not None


_PENDING = sa.text("""
SELECT id FROM inbound_deliveries
WHERE state = 'received' AND received_at < now() - make_interval(secs => :older_than)
ORDER BY id LIMIT :limit""")


def pending(conn: sa.Connection, older_than_s: float, limit: int) -> list[int]:
    """Rows still `received` after `older_than_s` (a crash between the door's commit and
    its apply, or a fetch that failed and waits to be tried again), oldest first."""
    rows = conn.execute(_PENDING, {"older_than": older_than_s, "limit": limit})
    return list(rows.scalars())


LISTED = (
    "id",
    "channel",
    "kind",
    "delivery_id",
    "topic",
    "state",
    "attempts",
    "received_at",
    "applied_at",
    "external_id",
    "order_id",
    "verification",
    "error",
)


def listing(
    conn: sa.Connection,
    *,
    state: str | None = None,
    channel: str | None = None,
    before: int | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Deliveries, newest first, without their bodies."""
    query = sa.select(*(inbox.c[name] for name in LISTED)).order_by(inbox.c.id.desc())
    if state is not None:
        query = query.where(inbox.c.state == state)
    if channel is not None:
        query = query.where(inbox.c.channel == channel)
    if before is not None:
        query = query.where(inbox.c.id < before)
    return [row._asdict() for row in conn.execute(query.limit(limit))]


def ids_in_state(conn: sa.Connection, state: str, channel: str | None = None) -> list[int]:
    query = sa.select(inbox.c.id).where(inbox.c.state == state).order_by(inbox.c.id)
    if channel is not None:
        query = query.where(inbox.c.channel == channel)
    return list(conn.execute(query).scalars())


def channel_row(conn: sa.Connection, name: str) -> Any:
    """A channel's kind, --api-url and stored outbound credentials (None: no such one)."""
    query = sa.select(
        channels.c.name, channels.c.kind, channels.c.api_url, channels.c.credentials_ciphertext
    ).where(channels.c.name == name)
    return conn.execute(query).first()
