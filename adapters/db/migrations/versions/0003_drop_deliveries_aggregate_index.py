"""drop ix_deliveries_aggregate: one index fewer on every ledger write

The relay marks every delivery row published and the workers mark it applied;
each of those updates writes a new entry into every index of the table. An
order's deliveries are found through its events (ix_outbox_events_aggregate),
and the consumer's per-destination lookups use uq_delivery_sequence.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 02:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # CONCURRENTLY: no ACCESS EXCLUSIVE lock queued behind the relays' and workers'
    # transactions (and every statement queued behind it) on a live database.
    with op.get_context().autocommit_block():
        op.drop_index(
            "ix_deliveries_aggregate",
            table_name="outbox_deliveries",
            postgresql_concurrently=True,
            if_exists=True,
        )


def downgrade() -> None:
    op.create_index(
        "ix_deliveries_aggregate", "outbox_deliveries", ["aggregate_type", "aggregate_id"]
    )
