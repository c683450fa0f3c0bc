"""Operator-side tables: replays and their checkpoints, the audit trail, the channels'
reconciliation watermarks.

- replays: one row per `ordersync outbox replay` (or /ops replay): its mode, filter, the
  selection's size, how far it got (`checkpoint`, the last ledger id released; the
  selection itself is marked on the ledger rows, outbox_deliveries.replay_id), state;
- audit_log: every operator action (CLI or /ops): who, what, the filter, dry run or not,
  counts, the outcome;
- channel_watermarks: how far an inbound reconciliation of a channel has looked.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from outbox.tables import BigId, Json, Timestamp

REPLAY_MODES = ("redeliver", "reprocess")
# running: releasing its selection; interrupted: stopped (Ctrl-C, a crash seen by a
# resume) with a checkpoint to go on from; done: all released; cancelled: stopped for
# good (its holds lifted).
REPLAY_STATES = ("running", "interrupted", "done", "cancelled")


class ReplayRow(SQLModel, table=True):
    __tablename__ = "replays"

    id: int | None = Field(default=None, sa_column=sa.Column(BigId, primary_key=True))
    mode: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    state: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    filter: dict[str, Any] = Field(sa_column=sa.Column(Json, nullable=False))
    total: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    released: int = Field(
        default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0")
    )
    checkpoint: int = Field(
        default=0, sa_column=sa.Column(BigId, nullable=False, server_default="0")
    )
    rate: float | None = Field(default=None, sa_column=sa.Column(sa.Float))
    counts: dict[str, Any] = Field(sa_column=sa.Column(Json, nullable=False))
    created_by: str = Field(sa_column=sa.Column(sa.String(128), nullable=False))
    created_at: datetime = Field(
        sa_column=sa.Column(Timestamp, nullable=False, server_default=sa.func.now())
    )
    updated_at: datetime = Field(
        sa_column=sa.Column(Timestamp, nullable=False, server_default=sa.func.now())
    )
    finished_at: datetime | None = Field(default=None, sa_column=sa.Column(Timestamp))

    __table_args__ = (
        sa.CheckConstraint(
            "mode IN ({})".format(", ".join(f"'{m}'" for m in REPLAY_MODES)), name="ck_replay_mode"
        ),
        sa.CheckConstraint(
            "state IN ({})".format(", ".join(f"'{s}'" for s in REPLAY_STATES)),
            name="ck_replay_state",
        ),
    )


class AuditRow(SQLModel, table=True):
    __tablename__ = "audit_log"

    id: int | None = Field(default=None, sa_column=sa.Column(BigId, primary_key=True))
    at: datetime = Field(
        sa_column=sa.Column(Timestamp, nullable=False, server_default=sa.func.now())
    )
    actor: str = Field(sa_column=sa.Column(sa.String(128), nullable=False))
    via: str = Field(sa_column=sa.Column(sa.String(8), nullable=False))  # cli or http
    action: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    filter: dict[str, Any] = Field(sa_column=sa.Column(Json, nullable=False))
    dry_run: bool = Field(sa_column=sa.Column(sa.Boolean, nullable=False))
    counts: dict[str, Any] = Field(sa_column=sa.Column(Json, nullable=False))
    outcome: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    detail: str | None = Field(default=None, sa_column=sa.Column(sa.Text))

    __table_args__ = (
        sa.CheckConstraint("via IN ('cli', 'http')", name="ck_audit_via"),
        sa.CheckConstraint("outcome IN ('ok', 'refused', 'failed')", name="ck_audit_outcome"),
        sa.Index("ix_audit_log_at", "at"),
    )


class ChannelWatermarkRow(SQLModel, table=True):
    __tablename__ = "channel_watermarks"

    channel: str = Field(sa_column=sa.Column(sa.String(64), primary_key=True))
    watermark: datetime = Field(sa_column=sa.Column(Timestamp, nullable=False))
    repaired: int = Field(
        default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0")
    )
    updated_at: datetime = Field(
        sa_column=sa.Column(Timestamp, nullable=False, server_default=sa.func.now())
    )


replays_table: sa.Table = ReplayRow.__table__  # type: ignore[attr-defined]
audit_table: sa.Table = AuditRow.__table__  # type: ignore[attr-defined]
watermarks_table: sa.Table = ChannelWatermarkRow.__table__  # type: ignore[attr-defined]
