"""The figures /metrics reads from the database at scrape time: the outbox backlog (through
the relay's partial index of unpublished rows), the open dead letters (few, by
destination) and the orders stuck unallocated (through the partial index of lines not yet
covered; held orders through ix_orders_unallocated, the partial index of orders still
waiting)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

# The predicate of ix_deliveries_unpublished, written as the index has it so the planner
# reads the index, never the whole ledger.
_BACKLOG = sa.text(
    "SELECT destination, count(*) AS n, min(created_at) AS oldest "
    "FROM outbox_deliveries WHERE published_at IS NULL GROUP BY destination"
)
_DEAD_LETTERS = sa.text(
    "SELECT destination, count(*) AS n FROM dead_letters "
    "WHERE requeued_at IS NULL AND purged_at IS NULL GROUP BY destination"
)
# Lines short of their quantity are ix_order_lines_backordered's predicate: read first
# (MATERIALIZED: the planner may not start from the orders instead), then their orders by
# key. An order on hold has its stock reserved, so it is found by its status instead.
_UNALLOCATED = sa.text(
    "WITH short AS MATERIALIZED ("
    "SELECT DISTINCT order_id FROM order_lines "
    "WHERE allocated + shipped + cancelled < quantity) "
    "SELECT 'backordered' AS reason, count(*) AS n "
    "FROM short JOIN orders o ON o.id = short.order_id "
    "WHERE o.status IN ('placed', 'backordered', 'partially_allocated') "
    "AND NOT o.fulfilled_by_channel AND o.created_at < :before "
    "UNION ALL "
    "SELECT 'held', count(*) FROM orders WHERE status = 'on_hold' AND created_at < :before"
)


@dataclass(frozen=True, slots=True)
class Backlog:
    destination: str
    unpublished: int
    oldest: datetime


def outbox_backlog(conn: sa.Connection) -> list[Backlog]:
    """Per destination with any: the unpublished deliveries and the oldest one's creation."""
    return [Backlog(r.destination, int(r.n), r.oldest) for r in conn.execute(_BACKLOG)]


def open_dead_letters(conn: sa.Connection) -> dict[str, int]:
    """Dead letters neither requeued nor purged, per destination."""
    return {r.destination: int(r.n) for r in conn.execute(_DEAD_LETTERS)}


def unallocated_orders(conn: sa.Connection, now: datetime, after: timedelta) -> dict[str, int]:
    """Orders accepted more than `after` before `now` and still not allocated, by reason
    (backordered: units no location could reserve; held: screened, waiting for release)."""
    rows = conn.execute(_UNALLOCATED, {"before": now - after})
    return {r.reason: int(r.n) for r in rows}


def set_statement_timeout(conn: sa.Connection, seconds: float) -> None:
    """Bound the scrape's statements (in its own transaction only)."""
    conn.execute(sa.text(f"SET LOCAL statement_timeout = {int(seconds * 1000)}"))
