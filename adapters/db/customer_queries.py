"""Read side of customers: the profile and its order history."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from adapters.db.lifecycle_tables import customers
from adapters.db.tables import orders

MAX_ORDERS = 100

_ORDERS_OF = (
    sa.select(
        orders.c.id,
        orders.c.channel,
        orders.c.external_id,
        orders.c.status,
        orders.c.placed_at,
        orders.c.currency,
        orders.c.totals["grand_total"].astext.label("grand_total"),
        sa.func.count().over().label("total"),
    )
    .where(orders.c.customer_id == sa.bindparam("customer_id"))
    .order_by(orders.c.placed_at.desc(), orders.c.id.desc())
    .limit(MAX_ORDERS)
)


def get_customer(conn: sa.Connection, customer_id: uuid.UUID) -> dict[str, Any] | None:
    """The customer's profile with its newest orders (at most MAX_ORDERS) and how many it
    has in all; None if there is no such customer."""
    row = conn.execute(sa.select(customers).where(customers.c.id == customer_id)).first()
    if row is None:
        return None
    listed = list(conn.execute(_ORDERS_OF, {"customer_id": customer_id}))
    profile = dict(row._mapping)
    return {
        **{k: profile[k] for k in ("id", "email", "name", "phone", "address", "channel")},
        "version": profile["version"],
        "created_at": profile["created_at"],
        "updated_at": profile["updated_at"],
        "order_count": listed[0].total if listed else 0,
        "orders": [
            {
                "id": o.id,
                "channel": o.channel,
                "external_id": o.external_id,
                "status": o.status,
                "placed_at": o.placed_at,
                "currency": o.currency,
                "grand_total": o.grand_total,
            }
            for o in listed
        ],
    }
