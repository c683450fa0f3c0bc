"""operations: replays (ledger and cursor columns for their chains), audit log, channel
watermarks, purged dead letters

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 16:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NOW = sa.func.now()


def _at(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    default = None if nullable else _NOW
    return sa.Column(name, sa.DateTime(timezone=True), server_default=default, nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "replays",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("filter", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("released", sa.Integer(), server_default="0", nullable=False),
        sa.Column("checkpoint", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("rate", sa.Float(), nullable=True),
        sa.Column("counts", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        _at("created_at"),
        _at("updated_at"),
        _at("finished_at", nullable=True),
        sa.CheckConstraint("mode IN ('redeliver', 'reprocess')", name="ck_replay_mode"),
        sa.CheckConstraint(
            "state IN ('running', 'interrupted', 'done', 'cancelled')", name="ck_replay_state"
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), nullable=False),
        _at("at"),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("via", sa.String(length=8), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("filter", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("counts", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.CheckConstraint("via IN ('cli', 'http')", name="ck_audit_via"),
        sa.CheckConstraint("outcome IN ('ok', 'refused', 'failed')", name="ck_audit_outcome"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"], unique=False)
    op.create_table(
        "channel_watermarks",
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("watermark", sa.DateTime(timezone=True), nullable=False),
        sa.Column("repaired", sa.Integer(), server_default="0", nullable=False),
        _at("updated_at"),
        sa.PrimaryKeyConstraint("channel"),
    )
    op.add_column("outbox_deliveries", sa.Column("replay_id", sa.BigInteger(), nullable=True))
    op.add_column("outbox_deliveries", sa.Column("replay_step", sa.Integer(), nullable=True))
    op.create_index(
        "ix_deliveries_replay",
        "outbox_deliveries",
        ["replay_id", "id"],
        unique=False,
        postgresql_where=sa.text("replay_id IS NOT NULL"),
    )
    op.add_column("consumer_cursors", sa.Column("replay_id", sa.BigInteger(), nullable=True))
    for name in ("replay_step", "replay_steps"):
        op.add_column(
            "consumer_cursors",
            sa.Column(name, sa.Integer(), server_default="0", nullable=False),
        )
    op.create_index(
        "ix_cursors_replay",
        "consumer_cursors",
        ["replay_id"],
        unique=False,
        postgresql_where=sa.text("replay_id IS NOT NULL"),
    )
    op.add_column("dead_letters", _at("purged_at", nullable=True))
    op.add_column("dead_letters", sa.Column("purge_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("dead_letters", "purge_reason")
    op.drop_column("dead_letters", "purged_at")
    op.drop_index("ix_cursors_replay", table_name="consumer_cursors")
    for name in ("replay_steps", "replay_step", "replay_id"):
        op.drop_column("consumer_cursors", name)
    op.drop_index("ix_deliveries_replay", table_name="outbox_deliveries")
    op.drop_column("outbox_deliveries", "replay_step")
    op.drop_column("outbox_deliveries", "replay_id")
    op.drop_table("channel_watermarks")
    op.drop_index("ix_audit_log_at", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("replays")
