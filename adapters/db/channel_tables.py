"""Tables of the channels' own formats: what arrives at the webhook doors, how far each
channel order has come, how a channel's SKUs map to ours.

- inbound_deliveries: the inbox of every channel — one row per verified delivery (the
  channel's delivery identity is unique per channel: a redelivery, also two copies at
  the same instant, writes nothing), with its exact raw bytes, the headers, how it was
  verified, and what became of it (applied, stale, parked as an inbound dead letter with
  its error). The raw bytes are the audit copy beside the canonical order and are
  removed after the retention (ORDERSYNC_RAW_PAYLOAD_DAYS);
- channel_order_versions: the newest business version applied of each channel order
  (channel, external id): the channel's updated_at and a tie-breaker, and the
  fingerprint of what was applied. One upsert decides newer or stale, under the primary
  key, never check-then-insert;
- sku_mappings: a channel's SKU (a Shopify variant SKU, an Amazon SellerSKU) → ours.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from outbox.tables import BigId, Json, Timestamp

# received: stored, not yet applied; applied: its commands are in; stale: an older
# business version than one already applied, recorded and changing nothing; ignored: a
# topic or state the product takes nothing from (said in `error`); parked: verified but
# could not be applied (an inbound dead letter, replayable).
INBOUND_STATES = ("received", "applied", "stale", "ignored", "parked")


def _channel() -> sa.ForeignKey:
    return sa.ForeignKey("channels.name")


def _at(nullable: bool = False) -> Any:
    default = None if nullable else sa.func.now()
    return Field(
        default=None, sa_column=sa.Column(Timestamp, nullable=nullable, server_default=default)
    )


class InboundDeliveryRow(SQLModel, table=True):
    __tablename__ = "inbound_deliveries"

    id: int | None = Field(default=None, sa_column=sa.Column(BigId, primary_key=True))
    channel: str = Field(sa_column=sa.Column(sa.String(64), _channel(), nullable=False))
    kind: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    # The channel's own identity of the delivery (X-Shopify-Event-Id, NotificationId, …).
    delivery_id: str = Field(sa_column=sa.Column(sa.String(255), nullable=False))
    topic: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    received_at: datetime | None = _at()
    # The request's headers as received, but for credentials (Authorization, Cookie).
    headers: dict[str, Any] = Field(sa_column=sa.Column(Json, nullable=False))
    # The exact raw bytes (NULL once the retention has removed them).
    body: bytes | None = Field(default=None, sa_column=sa.Column(sa.LargeBinary))
    body_removed_at: datetime | None = _at(nullable=True)
    # How the door verified it: "hmac-sha256", "hmac-sha256 (previous secret)", "api-key".
    verification: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    state: str = Field(
        sa_column=sa.Column(sa.String(16), nullable=False, server_default="received")
    )
    attempts: int = Field(
        default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0")
    )
    error: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    external_id: str | None = Field(default=None, sa_column=sa.Column(sa.String(128)))
    order_id: uuid.UUID | None = Field(default=None, sa_column=sa.Column(sa.Uuid))
    applied_at: datetime | None = _at(nullable=True)
    # The door's trace context (adapters/http/context.py), for the apply that runs after
    # the answer: its order and events name the request's correlation id and trace.
    correlation_id: str | None = Field(default=None, sa_column=sa.Column(sa.String(64)))
    traceparent: str | None = Field(default=None, sa_column=sa.Column(sa.String(64)))
    tracestate: str | None = Field(default=None, sa_column=sa.Column(sa.String(512)))

    __table_args__ = (
        sa.UniqueConstraint("channel", "delivery_id", name="uq_inbound_delivery"),
        sa.CheckConstraint(
            "state IN (" + ", ".join(f"'{s}'" for s in INBOUND_STATES) + ")",
            name="ck_inbound_state",
        ),
        sa.Index("ix_inbound_state", "state", "id"),
        sa.Index("ix_inbound_order", "order_id"),
        sa.Index("ix_inbound_received", "received_at"),
    )


class ChannelOrderVersionRow(SQLModel, table=True):
    __tablename__ = "channel_order_versions"

    channel: str = Field(sa_column=sa.Column(sa.String(64), _channel(), primary_key=True))
    external_id: str = Field(sa_column=sa.Column(sa.String(128), primary_key=True))
    # The channel's own clock of the order (updated_at, LastUpdateDate) and what breaks
    # a tie within one of its ticks (Square's version; 0 where the channel has none).
    version_at: datetime = Field(sa_column=sa.Column(Timestamp, nullable=False))
    version_no: int = Field(
        default=0, sa_column=sa.Column(sa.BigInteger, nullable=False, server_default="0")
    )
    fingerprint: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    delivery: int | None = Field(
        default=None, sa_column=sa.Column(BigId, sa.ForeignKey("inbound_deliveries.id"))
    )
    updated_at: datetime | None = _at()


class SkuMappingRow(SQLModel, table=True):
    __tablename__ = "sku_mappings"

    channel: str = Field(sa_column=sa.Column(sa.String(64), _channel(), primary_key=True))
    channel_sku: str = Field(sa_column=sa.Column(sa.String(255), primary_key=True))
    sku: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    created_by: str = Field(sa_column=sa.Column(sa.String(128), nullable=False))
    created_at: datetime | None = _at()


def _table(model: type[SQLModel]) -> sa.Table:
    return model.__table__  # type: ignore[attr-defined,no-any-return]


inbound_deliveries = _table(InboundDeliveryRow)
channel_order_versions = _table(ChannelOrderVersionRow)
sku_mappings = _table(SkuMappingRow)
