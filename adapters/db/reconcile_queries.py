"""What ordersync holds of each order, for comparing with what a downstream system holds:
its grand total, whether it has shipped in full, its shipments, and the state of its
deliveries to that destination on the ledger."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa

from adapters.db.tables import order_lines, orders, shipments
from adapters.systems.reconciliation import OrderOnRecord
from outbox.tables import deliveries_table as d

CHUNK = 1000  # orders per look-up of their lines, shipments and deliveries


_ORDERS = sa.select(
    orders.c.id,
    orders.c.external_id,
    orders.c.channel,
    orders.c.currency,
    orders.c.totals["grand_total"].astext.label("grand_total"),
    orders.c.status,
)
_SHIPPED_IN_FULL = (
    sa.select(
        order_lines.c.order_id,
        sa.func.bool_and(order_lines.c.shipped >= order_lines.c.quantity - order_lines.c.cancelled),
    )
    .where(order_lines.c.order_id.in_(sa.bindparam("ids", expanding=True)))
    .group_by(order_lines.c.order_id)
)
_SHIPMENTS = sa.select(
    shipments.c.order_id, shipments.c.location, shipments.c.tracking_number
).where(shipments.c.order_id.in_(sa.bindparam("ids", expanding=True)))
_DELIVERIES = (
    sa.select(d.c.aggregate_id, d.c.id, d.c.status, d.c.generation)
    .where(
        d.c.destination == sa.bindparam("destination"),
        d.c.aggregate_type == "order",
        d.c.aggregate_id.in_(sa.bindparam("refs", expanding=True)),
    )
    .order_by(d.c.id)
)


def orders_accepted_since(
    conn: sa.Connection, destination: str, since: datetime
) -> dict[str, OrderOnRecord]:
    """Every order accepted at or after `since`, by id (text)."""
    rows = conn.execute(_ORDERS.where(orders.c.created_at >= since)).all()
    return _held(conn, destination, rows)


def orders_by_id(
    conn: sa.Connection, destination: str, order_ids: Iterable[str]
) -> dict[str, OrderOnRecord]:
    """These orders (those that exist), by id (text)."""
    ids = sorted({uuid.UUID(i) for i in order_ids})
    rows: list[sa.Row] = []  # type: ignore[type-arg]
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        rows += conn.execute(_ORDERS.where(orders.c.id.in_(chunk))).all()
    return _held(conn, destination, rows)


def _held(
    conn: sa.Connection,
    destination: str,
    rows: Sequence[sa.Row],  # type: ignore[type-arg]
) -> dict[str, OrderOnRecord]:
    held: dict[str, OrderOnRecord] = {}
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        ids = [r.id for r in chunk]
        in_full = {r[0]: r[1] for r in conn.execute(_SHIPPED_IN_FULL, {"ids": ids})}
        sent: dict[uuid.UUID, set[tuple[str, str]]] = {i: set() for i in ids}
        for s in conn.execute(_SHIPMENTS, {"ids": ids}):
            sent[s.order_id].add((s.location, s.tracking_number))
        ledger: dict[str, list[tuple[int, str, int]]] = {str(i): [] for i in ids}
        refs = {"destination": destination, "refs": list(ledger)}
        for row in conn.execute(_DELIVERIES, refs):
            ledger[row.aggregate_id].append((row.id, row.status, row.generation))
        for r in chunk:
            held[str(r.id)] = OrderOnRecord(
                order_id=str(r.id),
                external_id=r.external_id,
                channel=r.channel,
                currency=r.currency,
                grand_total=Decimal(r.grand_total),
                fully_shipped=bool(in_full.get(r.id, False)),
                cancelled=r.status == "cancelled",
                shipments=frozenset(sent[r.id]),
                deliveries=tuple(ledger[str(r.id)]),
            )
    return held
