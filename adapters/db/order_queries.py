"""Read side of orders: look-ups and the paginated change feed."""

from __future__ import annotations

import uuid
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


def find_orders(
    conn: sa.Connection,
    *,
    channel: str | None,
    external_id: str | None = None,
    updated_since: datetime | None = None,
    after: tuple[datetime, uuid.UUID] | None = None,
    limit: int = 100,
) -> list[Order]:
    """Orders in (updated_at, id) order: a stable order for cursor pagination."""
    query = sa.select(orders)
    if channel is not None:
        query = query.where(orders.c.channel == channel)
    if external_id is not None:
        query = query.where(orders.c.external_id == external_id)
    if updated_since is not None:
        query = query.where(orders.c.updated_at >= updated_since)
    if after is not None:
        query = query.where(sa.tuple_(orders.c.updated_at, orders.c.id) > sa.tuple_(*after))
    query = query.order_by(orders.c.updated_at, orders.c.id).limit(limit)
    return load_orders(conn, list(conn.execute(query)))
