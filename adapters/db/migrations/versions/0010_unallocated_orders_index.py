"""the orders not allocated yet, by age: a small partial index for the dashboard's delayed
orders and the metrics' unallocated gauge (most orders are allocated as they are accepted,
so it holds only the few that wait)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 02:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WAITING = "status IN ('placed', 'on_hold', 'backordered', 'partially_allocated')"


def upgrade() -> None:
    op.create_index(
        "ix_orders_unallocated", "orders", ["created_at"], postgresql_where=sa.text(WAITING)
    )


def downgrade() -> None:
    op.drop_index("ix_orders_unallocated", table_name="orders")
