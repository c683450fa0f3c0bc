"""Read side of orders: look-ups and the paginated change feed."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from adapters.db.order_repository import load_orders
from adapters.db.tables import orders
from domain.orders import Order


def get_order(conn: sa.Connection, order_id: uuid.UUID, channel: str | None) -> Order | None:
    """One order; with `channel`, only if it belongs to that channel."""
    query = sa.select(orders).where(orders.c.id == order_id)
    if channel is not None:
        query = query.where(orders.c.channel == channel)
    found = load_orders(conn, list(conn.execute(query)))
    return found[0] if found else None


@dataclass(frozen=True, slots=True)
class Page:
    orders: list[Order]
    last: tuple[int, uuid.UUID] | None  # the feed position of the last order, for a cursor


# The lowest transaction id that may still commit order changes in this database:
# the oldest transaction in progress at this snapshot, leaving out those seen running
# in other databases (xids are cluster-wide). One that ended since the snapshot was
# taken cannot be placed, so it counts: that holds the feed back for an instant, never
# lets it skip. Nothing in progress: the next id to be assigned.
_HORIZON = sa.text(
    """
    WITH s AS MATERIALIZED (SELECT pg_current_snapshot() AS snap),
    elsewhere AS (
        SELECT backend_xid::text::bigint AS xid FROM pg_stat_activity
        WHERE backend_xid IS NOT NULL AND datname IS DISTINCT FROM current_database()
    )
    SELECT coalesce(
        (SELECT min(x::text::bigint) FROM s, pg_snapshot_xip(s.snap) AS x
         WHERE x::text::bigint % 4294967296 NOT IN (SELECT xid FROM elsewhere)),
        (SELECT pg_snapshot_xmax(snap)::text::bigint FROM s)
    )
    """
)


def _horizon(conn: sa.Connection) -> int:
    """Only changes below this feed position are served.

    A feed ordered by a time or a sequence taken at write time skips rows that
    commit late: a reader passes position 10 while the writer of position 9 is
    still running, and never goes back. The position is the writing transaction's
    id, and the feed serves only ids below every transaction that may still commit
    (_HORIZON): everything there has committed or rolled back, and whatever commits
    later sits above every position served. A long
    transaction in this database holds the feed back; it never loses a row.
    """
    return int(conn.execute(_HORIZON).scalar_one())


def find_orders(
    conn: sa.Connection,
    *,
    channel: str | None,
    external_id: str | None = None,
    updated_since: datetime | None = None,
    after: tuple[int, uuid.UUID] | None = None,
    limit: int = 100,
) -> Page:
    """Orders in change-feed order (a stable order for cursor pagination)."""
    query = sa.select(orders)
    if channel is not None:
        query = query.where(orders.c.channel == channel)
    if external_id is not None:
        query = query.where(orders.c.external_id == external_id)
    if updated_since is not None:
        query = query.where(orders.c.updated_at >= updated_since)
    if after is not None:
        query = query.where(sa.tuple_(orders.c.change_seq, orders.c.id) > sa.tuple_(*after))
    if external_id is None:  # a feed, not a look-up: serve only what cannot be overtaken
        query = query.where(orders.c.change_seq < _horizon(conn))
    rows = list(conn.execute(query.order_by(orders.c.change_seq, orders.c.id).limit(limit)))
    last = (rows[-1].change_seq, rows[-1].id) if rows else None
    return Page(load_orders(conn, rows), last)
