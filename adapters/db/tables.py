"""Tables of the system of record (SQLModel families; rows map to domain objects in the
repositories, never the other way round). The outbox's own tables live in outbox/tables.py."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from outbox.tables import Json, Timestamp

_now = sa.func.now()


def _minor() -> Any:
    return Field(default=0, sa_column=sa.Column(sa.BigInteger, nullable=False, server_default="0"))


def _created() -> Any:
    return Field(sa_column=sa.Column(Timestamp, nullable=False, server_default=_now))


class ChannelRow(SQLModel, table=True):
    __tablename__ = "channels"

    id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, primary_key=True))
    name: str = Field(sa_column=sa.Column(sa.String(64), nullable=False, unique=True))
    kind: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    api_key_prefix: str = Field(sa_column=sa.Column(sa.String(16), nullable=False, unique=True))
    api_key_hash: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    secret_ciphertext: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    api_url: str | None = Field(default=None, sa_column=sa.Column(sa.String(500)))
    shop_domain: str | None = Field(default=None, sa_column=sa.Column(sa.String(255)))
    notification_url: str | None = Field(default=None, sa_column=sa.Column(sa.String(500)))
    # What the channel's own API takes from us (an access token, a key and its secret),
    # as JSON, encrypted with ORDERSYNC_SECRET_KEY like the webhook secret.
    credentials_ciphertext: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    # After `ordersync channel rotate`: the key and secret before it, still good until
    # previous_valid_until (the grace period), so the channel can switch without a gap.
    previous_key_prefix: str | None = Field(
        default=None, sa_column=sa.Column(sa.String(16), unique=True)
    )
    previous_key_hash: str | None = Field(default=None, sa_column=sa.Column(sa.String(64)))
    previous_secret_ciphertext: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    previous_valid_until: datetime | None = Field(default=None, sa_column=sa.Column(Timestamp))
    # Requests a minute on the canonical API and the read routes (NULL: the default,
    # ORDERSYNC_CHANNEL_RATE_LIMIT); the webhook doors are never limited.
    rate_limit_per_minute: int | None = Field(default=None, sa_column=sa.Column(sa.Integer))
    created_at: datetime = _created()
    disabled_at: datetime | None = Field(default=None, sa_column=sa.Column(Timestamp))


class SystemRow(SQLModel, table=True):
    """A downstream system (ERP, WMS, CRM, payments) that calls back with its own key."""

    __tablename__ = "systems"

    id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, primary_key=True))
    name: str = Field(sa_column=sa.Column(sa.String(64), nullable=False, unique=True))
    kind: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    api_key_prefix: str = Field(sa_column=sa.Column(sa.String(16), nullable=False, unique=True))
    api_key_hash: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    created_at: datetime = _created()
    disabled_at: datetime | None = Field(default=None, sa_column=sa.Column(Timestamp))


class LocationRow(SQLModel, table=True):
    __tablename__ = "locations"

    code: str = Field(sa_column=sa.Column(sa.String(64), primary_key=True))
    type: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    priority: int = Field(sa_column=sa.Column(sa.Integer, nullable=False, server_default="100"))
    created_at: datetime = _created()

    __table_args__ = (
        sa.CheckConstraint("type IN ('warehouse', 'store')", name="ck_location_type"),
    )


class SkuRow(SQLModel, table=True):
    """A known SKU; its row is the lock every stock change of the SKU takes first."""

    __tablename__ = "skus"

    sku: str = Field(sa_column=sa.Column(sa.String(64), primary_key=True))
    version: int = Field(sa_column=sa.Column(sa.Integer, nullable=False, server_default="0"))
    created_at: datetime = _created()


class StockRow(SQLModel, table=True):
    __tablename__ = "stock"

    sku: str = Field(
        sa_column=sa.Column(sa.String(64), sa.ForeignKey("skus.sku"), primary_key=True)
    )
    location: str = Field(
        sa_column=sa.Column(sa.String(64), sa.ForeignKey("locations.code"), primary_key=True)
    )
    on_hand: int = Field(sa_column=sa.Column(sa.Integer, nullable=False, server_default="0"))
    reserved: int = Field(sa_column=sa.Column(sa.Integer, nullable=False, server_default="0"))
    updated_at: datetime = _created()

    # The database refuses an oversell even if a code path forgot a lock.
    __table_args__ = (
        sa.CheckConstraint("on_hand >= 0", name="ck_stock_on_hand"),
        sa.CheckConstraint("reserved >= 0 AND reserved <= on_hand", name="ck_stock_reserved"),
    )


class OrderRow(SQLModel, table=True):
    __tablename__ = "orders"

    id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, primary_key=True))
    channel: str = Field(
        sa_column=sa.Column(sa.String(64), sa.ForeignKey("channels.name"), nullable=False)
    )
    external_id: str = Field(sa_column=sa.Column(sa.String(128), nullable=False))
    idempotency_key: str | None = Field(default=None, sa_column=sa.Column(sa.String(255)))
    fingerprint: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    status: str = Field(sa_column=sa.Column(sa.String(32), nullable=False))
    version: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    currency: str = Field(sa_column=sa.Column(sa.String(3), nullable=False))
    placed_at: datetime = Field(sa_column=sa.Column(Timestamp, nullable=False))
    customer: dict[str, Any] = Field(sa_column=sa.Column(Json, nullable=False))
    shipping_address: dict[str, Any] = Field(sa_column=sa.Column(Json, nullable=False))
    billing_address: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(Json))
    shipping: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(Json))
    payment: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(Json))
    totals: dict[str, Any] = Field(sa_column=sa.Column(Json, nullable=False))
    # A business customer's terms (purchase order, account, payment terms, requested
    # delivery date); NULL for a consumer's order.
    b2b: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(Json))
    # Why the order is on hold (empty: it is not), as the screen at acceptance found.
    holds: list[str] = Field(
        default_factory=list,
        sa_column=sa.Column(Json, nullable=False, server_default=sa.text("'[]'::jsonb")),
    )
    customer_id: uuid.UUID | None = Field(
        default=None, sa_column=sa.Column(sa.Uuid, sa.ForeignKey("customers.id"), index=True)
    )
    # The X-Correlation-ID of the request that created it (its outbox rows carry it too).
    correlation_id: str | None = Field(default=None, sa_column=sa.Column(sa.String(64)))
    # The channel fulfils it from its own stock (Amazon FBA): it reserves nothing here, and
    # the WMS is never asked to ship it (domain.orders.Order.fulfilled_by_channel).
    fulfilled_by_channel: bool = Field(
        default=False,
        sa_column=sa.Column(sa.Boolean, nullable=False, server_default=sa.text("false")),
    )
    # The order's money so far, in minor units of its currency (payments, refunds and the
    # financial documents hold the detail; these are what its invariants are checked on).
    authorized_minor: int = _minor()
    captured_minor: int = _minor()
    refunded_minor: int = _minor()
    invoiced_minor: int = _minor()
    credited_minor: int = _minor()
    created_at: datetime = Field(sa_column=sa.Column(Timestamp, nullable=False))
    updated_at: datetime = Field(sa_column=sa.Column(Timestamp, nullable=False))
    # The change feed's order: the writing transaction's id (see
    # adapters/db/order_queries.py for why not updated_at).
    change_seq: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))

    __table_args__ = (
        sa.UniqueConstraint("channel", "external_id", name="uq_order_channel_external_id"),
        sa.Index(
            "uq_order_channel_idempotency_key",
            "channel",
            "idempotency_key",
            unique=True,
            postgresql_where=sa.text("idempotency_key IS NOT NULL"),
        ),
        sa.Index("ix_orders_changes", "change_seq", "id"),
        sa.Index("ix_orders_channel_changes", "channel", "change_seq", "id"),
        # The orders still waiting for stock or a release, by age (the dashboard's delayed
        # orders, the metrics' unallocated gauge): few rows, as most allocate on arrival.
        sa.Index(
            "ix_orders_unallocated",
            "created_at",
            postgresql_where=sa.text(
                "status IN ('placed', 'on_hold', 'backordered', 'partially_allocated')"
            ),
        ),
    )


class OrderLineRow(SQLModel, table=True):
    __tablename__ = "order_lines"

    order_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True
        )
    )
    line_no: int = Field(sa_column=sa.Column(sa.Integer, primary_key=True))
    sku: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    quantity: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    unit_price_minor: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    discount_minor: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    tax_minor: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    allocated: int = Field(sa_column=sa.Column(sa.Integer, nullable=False, server_default="0"))
    shipped: int = Field(sa_column=sa.Column(sa.Integer, nullable=False, server_default="0"))
    # Taken off the order before shipment (an edit or a cancellation), never shipped.
    cancelled: int = Field(sa_column=sa.Column(sa.Integer, nullable=False, server_default="0"))
    # On returns (opened or received): never more than was shipped.
    returned: int = Field(sa_column=sa.Column(sa.Integer, nullable=False, server_default="0"))

    __table_args__ = (
        sa.CheckConstraint("quantity > 0", name="ck_line_quantity"),
        sa.CheckConstraint(
            "allocated >= 0 AND cancelled >= 0 AND allocated + shipped + cancelled <= quantity",
            name="ck_line_alloc",
        ),
        sa.CheckConstraint("returned >= 0 AND returned <= shipped", name="ck_line_returned"),
        # The backorder fill's "backordered lines of these SKUs": few rows, so a small index.
        sa.Index(
            "ix_order_lines_backordered",
            "sku",
            postgresql_where=sa.text("allocated + shipped + cancelled < quantity"),
        ),
    )


class ReservationRow(SQLModel, table=True):
    __tablename__ = "reservations"

    id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, primary_key=True))
    order_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("orders.id", ondelete="CASCADE"), nullable=False)
    )
    line_no: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    sku: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    location: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    quantity: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    created_at: datetime = Field(sa_column=sa.Column(Timestamp, nullable=False))

    __table_args__ = (
        sa.CheckConstraint("quantity > 0", name="ck_reservation_quantity"),
        sa.Index("ix_reservations_order", "order_id"),
        sa.Index("ix_reservations_stock", "sku", "location", "created_at"),
    )


def table(model: type[SQLModel]) -> sa.Table:
    return model.__table__  # type: ignore[attr-defined,no-any-return]


channels = table(ChannelRow)
systems = table(SystemRow)
locations = table(LocationRow)
skus = table(SkuRow)
stock = table(StockRow)
orders = table(OrderRow)
order_lines = table(OrderLineRow)
reservations = table(ReservationRow)


class ShipmentRow(SQLModel, table=True):
    """What left a location for an order (reported by the WMS or a store)."""

    __tablename__ = "shipments"

    id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, primary_key=True))
    order_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("orders.id"), nullable=False, index=True)
    )
    location: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    carrier: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    tracking_number: str = Field(sa_column=sa.Column(sa.String(128), nullable=False))
    lines: list[dict[str, Any]] = Field(sa_column=sa.Column(Json, nullable=False))
    created_at: datetime = _created()

    __table_args__ = (
        sa.UniqueConstraint("order_id", "carrier", "tracking_number", name="uq_shipment_tracking"),
    )


shipments = table(ShipmentRow)


from adapters.db import lifecycle_tables  # noqa: E402,F401  (customers, for orders.customer_id)
