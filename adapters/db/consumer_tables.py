"""Consumer-side tables: what the actors keep so each message is applied once and in order.

- inbox: (destination, event_id, generation) of every applied message, written in the
  same transaction as the handler's own effect and the ledger update;
- consumer_cursors: the last applied sequence per (destination, aggregate), locked
  FOR UPDATE while a message is applied; `blocked_by` names a dead (poison) event
  that holds the aggregate's later messages at that destination;
- dead_letters: the record of poison messages and the source for requeue;
- destinations: each destination's circuit breaker (closed, open, paused).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from outbox.tables import BigId, Json, Timestamp


class InboxRow(SQLModel, table=True):
    __tablename__ = "inbox"

    destination: str = Field(sa_column=sa.Column(sa.String(80), primary_key=True))
    event_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, primary_key=True))
    generation: int = Field(sa_column=sa.Column(sa.Integer, primary_key=True))
    applied_at: datetime = Field(
        sa_column=sa.Column(Timestamp, nullable=False, server_default=sa.func.now())
    )


class ConsumerCursorRow(SQLModel, table=True):
    __tablename__ = "consumer_cursors"

    destination: str = Field(sa_column=sa.Column(sa.String(80), primary_key=True))
    aggregate_type: str = Field(sa_column=sa.Column(sa.String(32), primary_key=True))
    aggregate_id: str = Field(sa_column=sa.Column(sa.String(128), primary_key=True))
    last_sequence: int = Field(
        default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0")
    )
    blocked_by: uuid.UUID | None = Field(default=None, sa_column=sa.Column(sa.Uuid))
    # A reprocess replay's hold on the aggregate here (replays.id): its chain of
    # `replay_steps` messages goes first, `replay_step` of them applied so far; live
    # messages park until it is through.
    replay_id: int | None = Field(default=None, sa_column=sa.Column(BigId))
    replay_step: int = Field(
        default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0")
    )
    replay_steps: int = Field(
        default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0")
    )
    updated_at: datetime = Field(
        sa_column=sa.Column(Timestamp, nullable=False, server_default=sa.func.now())
    )

    __table_args__ = (
        sa.Index(
            "ix_cursors_replay", "replay_id", postgresql_where=sa.text("replay_id IS NOT NULL")
        ),
    )


class DeadLetterRow(SQLModel, table=True):
    __tablename__ = "dead_letters"

    id: int | None = Field(default=None, sa_column=sa.Column(BigId, primary_key=True))
    destination: str = Field(sa_column=sa.Column(sa.String(80), nullable=False))
    event_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, nullable=False))
    generation: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    event_type: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    aggregate_type: str = Field(sa_column=sa.Column(sa.String(32), nullable=False))
    aggregate_id: str = Field(sa_column=sa.Column(sa.String(128), nullable=False))
    sequence: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    error: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    attempts: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    envelope: dict[str, Any] = Field(sa_column=sa.Column(Json, nullable=False))
    created_at: datetime = Field(
        sa_column=sa.Column(Timestamp, nullable=False, server_default=sa.func.now())
    )
    requeued_at: datetime | None = Field(default=None, sa_column=sa.Column(Timestamp))
    # Purged: given up on by an operator (the reason is also in the audit trail).
    purged_at: datetime | None = Field(default=None, sa_column=sa.Column(Timestamp))
    purge_reason: str | None = Field(default=None, sa_column=sa.Column(sa.Text))

    __table_args__ = (
        sa.UniqueConstraint("destination", "event_id", "generation", name="uq_dead_letter"),
        sa.Index("ix_dead_letters_destination", "destination", "created_at"),
    )


class DestinationRow(SQLModel, table=True):
    """A destination's circuit breaker: closed (flowing), open (down), paused (by hand)."""

    __tablename__ = "destinations"

    name: str = Field(sa_column=sa.Column(sa.String(80), primary_key=True))
    state: str = Field(
        default="closed",
        sa_column=sa.Column(sa.String(16), nullable=False, server_default="closed"),
    )
    failures: int = Field(
        default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0")
    )
    reason: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    # Not to be probed before this: the system's own Retry-After, when it gave a long one.
    retry_at: datetime | None = Field(default=None, sa_column=sa.Column(Timestamp))
    changed_at: datetime = Field(
        sa_column=sa.Column(Timestamp, nullable=False, server_default=sa.func.now())
    )

    __table_args__ = (
        sa.CheckConstraint("state IN ('closed', 'open', 'paused')", name="ck_destination_state"),
    )


inbox_table: sa.Table = InboxRow.__table__  # type: ignore[attr-defined]
cursors_table: sa.Table = ConsumerCursorRow.__table__  # type: ignore[attr-defined]
dead_letters_table: sa.Table = DeadLetterRow.__table__  # type: ignore[attr-defined]
destinations_table: sa.Table = DestinationRow.__table__  # type: ignore[attr-defined]
