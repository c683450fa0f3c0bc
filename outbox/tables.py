"""Outbox tables: events, the delivery ledger (one row per event and destination), sequences.

The ledger already carries what the relay, the actors and replay fill in later:
published / applied times, attempts, last error, status, generation and the
event that blocks a parked delivery.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

BigId = sa.BigInteger()
Json = JSONB()
Timestamp = sa.DateTime(timezone=True)

# Delivery statuses (the ledger): pending → published → applied, or waiting
# (destination down: parked until it is back), parked (behind an earlier event of
# the same aggregate), superseded (a newer state-like event replaced it), dead.
DELIVERY_STATUSES = ("pending", "published", "applied", "waiting", "parked", "superseded", "dead")


class OutboxEventRow(SQLModel, table=True):
    __tablename__ = "outbox_events"

    id: int | None = Field(default=None, sa_column=sa.Column(BigId, primary_key=True))
    event_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, nullable=False, unique=True))
    event_type: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    event_version: int = Field(sa_column=sa.Column(sa.SmallInteger, nullable=False))
    aggregate_type: str = Field(sa_column=sa.Column(sa.String(32), nullable=False))
    aggregate_id: str = Field(sa_column=sa.Column(sa.String(128), nullable=False))
    aggregate_version: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    partition: int = Field(sa_column=sa.Column(sa.SmallInteger, nullable=False))
    channel: str | None = Field(default=None, sa_column=sa.Column(sa.String(64)))
    correlation_id: str | None = Field(default=None, sa_column=sa.Column(sa.String(64)))
    causation_id: str | None = Field(default=None, sa_column=sa.Column(sa.String(64)))
    traceparent: str | None = Field(default=None, sa_column=sa.Column(sa.String(64)))
    tracestate: str | None = Field(default=None, sa_column=sa.Column(sa.String(512)))
    occurred_at: datetime = Field(sa_column=sa.Column(Timestamp, nullable=False))
    created_at: datetime = Field(
        sa_column=sa.Column(Timestamp, nullable=False, server_default=sa.func.now())
    )
    payload: dict[str, Any] = Field(sa_column=sa.Column(Json, nullable=False))

    __table_args__ = (
        sa.Index("ix_outbox_events_aggregate", "aggregate_type", "aggregate_id", "id"),
        sa.Index("ix_outbox_events_created_at", "created_at"),
    )


class OutboxDeliveryRow(SQLModel, table=True):
    __tablename__ = "outbox_deliveries"

    id: int | None = Field(default=None, sa_column=sa.Column(BigId, primary_key=True))
    event_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey("outbox_events.event_id", ondelete="CASCADE"), nullable=False
        )
    )
    destination: str = Field(sa_column=sa.Column(sa.String(80), nullable=False))
    aggregate_type: str = Field(sa_column=sa.Column(sa.String(32), nullable=False))
    aggregate_id: str = Field(sa_column=sa.Column(sa.String(128), nullable=False))
    partition: int = Field(sa_column=sa.Column(sa.SmallInteger, nullable=False))
    sequence: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    generation: int = Field(
        default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0")
    )
    status: str = Field(
        default="pending",
        sa_column=sa.Column(sa.String(16), nullable=False, server_default="pending"),
    )
    coalesce_key: str | None = Field(default=None, sa_column=sa.Column(sa.String(160)))
    published_at: datetime | None = Field(default=None, sa_column=sa.Column(Timestamp))
    applied_at: datetime | None = Field(default=None, sa_column=sa.Column(Timestamp))
    attempts: int = Field(
        default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0")
    )
    last_error: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    blocked_by: uuid.UUID | None = Field(default=None, sa_column=sa.Column(sa.Uuid))
    # A reprocess replay that selected this row (replays.id) and the row's place in its
    # aggregate's chain at that destination (1, 2, …): the consumer applies a chain in
    # order and holds the aggregate's new events until the chain is through.
    replay_id: int | None = Field(default=None, sa_column=sa.Column(BigId))
    replay_step: int | None = Field(default=None, sa_column=sa.Column(sa.Integer))
    created_at: datetime = Field(
        sa_column=sa.Column(Timestamp, nullable=False, server_default=sa.func.now())
    )
    updated_at: datetime = Field(
        sa_column=sa.Column(Timestamp, nullable=False, server_default=sa.func.now())
    )

    __table_args__ = (
        sa.UniqueConstraint("event_id", "destination", name="uq_delivery_event_destination"),
        sa.UniqueConstraint(
            "destination", "aggregate_type", "aggregate_id", "sequence", name="uq_delivery_sequence"
        ),
        sa.CheckConstraint(
            "status IN ({})".format(", ".join(f"'{s}'" for s in DELIVERY_STATUSES)),
            name="ck_delivery_status",
        ),
        # The relay's work queue: only unpublished rows are in this index, so it
        # stays small however long the ledger grows.
        sa.Index(
            "ix_deliveries_unpublished",
            "partition",
            "id",
            postgresql_where=sa.text("published_at IS NULL"),
        ),
        sa.Index(
            "ix_deliveries_replay",
            "replay_id",
            "id",
            postgresql_where=sa.text("replay_id IS NOT NULL"),
        ),
        sa.Index(
            "ix_deliveries_attention",
            "destination",
            "status",
            postgresql_where=sa.text("status IN ('waiting', 'parked', 'dead')"),
        ),
    )


class OutboxSequenceRow(SQLModel, table=True):
    """The last sequence number given per (aggregate, destination)."""

    __tablename__ = "outbox_sequences"

    aggregate_type: str = Field(sa_column=sa.Column(sa.String(32), primary_key=True))
    aggregate_id: str = Field(sa_column=sa.Column(sa.String(128), primary_key=True))
    destination: str = Field(sa_column=sa.Column(sa.String(80), primary_key=True))
    last_sequence: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))


events_table: sa.Table = OutboxEventRow.__table__  # type: ignore[attr-defined]
deliveries_table: sa.Table = OutboxDeliveryRow.__table__  # type: ignore[attr-defined]
sequences_table: sa.Table = OutboxSequenceRow.__table__  # type: ignore[attr-defined]
