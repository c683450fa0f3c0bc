"""correlation: the X-Correlation-ID of the request that created an order, on the order;
and a channel delivery's trace context, for its apply after the answer

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 00:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable: orders accepted before this revision have none (their events do, on the
    # outbox rows).
    op.add_column("orders", sa.Column("correlation_id", sa.String(length=64), nullable=True))
    op.add_column(
        "inbound_deliveries", sa.Column("correlation_id", sa.String(length=64), nullable=True)
    )
    op.add_column(
        "inbound_deliveries", sa.Column("traceparent", sa.String(length=64), nullable=True)
    )
    op.add_column(
        "inbound_deliveries", sa.Column("tracestate", sa.String(length=512), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("inbound_deliveries", "tracestate")
    op.drop_column("inbound_deliveries", "traceparent")
    op.drop_column("inbound_deliveries", "correlation_id")
    op.drop_column("orders", "correlation_id")
