"""Tables of the order lifecycle after acceptance: the change log behind an order's
timeline, hold rules, customers, per-channel safety stock, payments, returns, refunds and
the financial documents posted to the ERP.

- order_changes: one row per committed change of an order (its command, who sent it,
  the correlation id, the version it made: the order's events carry the same version);
- hold_rules: what screens an order at acceptance, per channel (NULL: every channel);
- customers: one per normalized e-mail, across channels (orders.customer_id);
- safety_stock: what a channel is never offered of a location's ATP (sku '*': every SKU);
- payments: authorizations, captures and voids, each once per platform transaction id;
- returns: a return's lines, and what was received with which disposition;
- refunds: money given back (for a return, partial, shipping only, goodwill);
- financial_documents: the ERP postings made of shipments and refunds (an invoice per
  shipment, a credit memo per refund) with their net, tax and shipping in minor units.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from domain.holds import KINDS
from outbox.tables import BigId, Json, Timestamp

HOLD_RULE_KINDS = KINDS  # what domain.holds screens for
PAYMENT_KINDS = ("authorization", "capture", "void")
RETURN_STATES = ("open", "received")
REFUND_KINDS = ("return", "partial", "shipping", "goodwill")
DOCUMENT_KINDS = ("invoice", "credit_memo")


def _at(nullable: bool = False) -> Any:
    default = None if nullable else sa.func.now()
    return Field(
        default=None,
        sa_column=sa.Column(Timestamp, nullable=nullable, server_default=default),
    )


def _order_id(index: bool = True) -> Any:
    return Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("orders.id"), nullable=False, index=index)
    )


class OrderChangeRow(SQLModel, table=True):
    __tablename__ = "order_changes"

    id: int | None = Field(default=None, sa_column=sa.Column(BigId, primary_key=True))
    order_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid, sa.ForeignKey("orders.id", ondelete="CASCADE"), nullable=False)
    )
    version: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    command: str = Field(sa_column=sa.Column(sa.String(32), nullable=False))
    caller: str | None = Field(default=None, sa_column=sa.Column(sa.String(128)))
    correlation_id: str | None = Field(default=None, sa_column=sa.Column(sa.String(64)))
    status_from: str | None = Field(default=None, sa_column=sa.Column(sa.String(32)))
    status_to: str = Field(sa_column=sa.Column(sa.String(32), nullable=False))
    detail: dict[str, Any] = Field(sa_column=sa.Column(Json, nullable=False))
    at: datetime | None = _at()

    __table_args__ = (sa.Index("ix_order_changes_order", "order_id", "id"),)


class HoldRuleRow(SQLModel, table=True):
    __tablename__ = "hold_rules"

    id: int | None = Field(default=None, sa_column=sa.Column(BigId, primary_key=True))
    channel: str | None = Field(
        default=None, sa_column=sa.Column(sa.String(64), sa.ForeignKey("channels.name"))
    )
    kind: str = Field(sa_column=sa.Column(sa.String(32), nullable=False))
    value: str | None = Field(default=None, sa_column=sa.Column(sa.String(255)))
    created_by: str = Field(sa_column=sa.Column(sa.String(128), nullable=False))
    created_at: datetime | None = _at()

    __table_args__ = (
        sa.CheckConstraint(
            "kind IN (" + ", ".join(f"'{k}'" for k in HOLD_RULE_KINDS) + ")",
            name="ck_hold_rule_kind",
        ),
        sa.Index(
            "uq_hold_rule",
            sa.text("coalesce(channel, '')"),
            "kind",
            sa.text("coalesce(value, '')"),
            unique=True,
        ),
    )


class CustomerRow(SQLModel, table=True):
    __tablename__ = "customers"

    id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, primary_key=True))
    # One customer per e-mail: its id is derived from it (domain.customers), the primary key
    # the one unique index (see adapters/db/order_repository.py).
    email: str = Field(sa_column=sa.Column(sa.String(254), nullable=False, index=True))
    name: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    phone: str | None = Field(default=None, sa_column=sa.Column(sa.String(200)))
    address: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(Json))
    channel: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))  # last to change it
    version: int = Field(sa_column=sa.Column(sa.Integer, nullable=False, server_default="1"))
    created_at: datetime | None = _at()
    updated_at: datetime | None = _at()


class SafetyStockRow(SQLModel, table=True):
    __tablename__ = "safety_stock"

    channel: str = Field(
        sa_column=sa.Column(sa.String(64), sa.ForeignKey("channels.name"), primary_key=True)
    )
    location: str = Field(
        sa_column=sa.Column(sa.String(64), sa.ForeignKey("locations.code"), primary_key=True)
    )
    sku: str = Field(
        sa_column=sa.Column(sa.String(64), primary_key=True)
    )  # or domain.sellable.ALL_SKUS
    quantity: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    updated_at: datetime | None = _at()

    __table_args__ = (
        sa.CheckConstraint("quantity >= 0", name="ck_safety_stock_quantity"),
        # Read with every SKU's stock (adapters/db/inventory_repository.py), by location.
        sa.Index("ix_safety_stock_location", "location", "sku"),
    )


class PaymentRow(SQLModel, table=True):
    __tablename__ = "payments"

    id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, primary_key=True))
    order_id: uuid.UUID = _order_id()
    kind: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    transaction_id: str = Field(sa_column=sa.Column(sa.String(128), nullable=False))
    source: str = Field(sa_column=sa.Column(sa.String(128), nullable=False))
    amount_minor: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    currency: str = Field(sa_column=sa.Column(sa.String(3), nullable=False))
    shipment_id: uuid.UUID | None = Field(
        default=None, sa_column=sa.Column(sa.Uuid, sa.ForeignKey("shipments.id"))
    )
    created_at: datetime | None = _at()

    __table_args__ = (
        sa.CheckConstraint(
            "kind IN (" + ", ".join(f"'{k}'" for k in PAYMENT_KINDS) + ")",
            name="ck_payment_kind",
        ),
        sa.CheckConstraint("amount_minor >= 0", name="ck_payment_amount"),
        sa.UniqueConstraint("kind", "transaction_id", name="uq_payment_transaction"),
    )


class ReturnRow(SQLModel, table=True):
    __tablename__ = "returns"

    id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, primary_key=True))
    order_id: uuid.UUID = _order_id()
    status: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    reason: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    lines: list[dict[str, Any]] = Field(sa_column=sa.Column(Json, nullable=False))
    received: list[dict[str, Any]] | None = Field(default=None, sa_column=sa.Column(Json))
    location: str | None = Field(default=None, sa_column=sa.Column(sa.String(64)))
    created_at: datetime | None = _at()
    received_at: datetime | None = _at(nullable=True)

    __table_args__ = (
        sa.CheckConstraint(
            "status IN (" + ", ".join(f"'{k}'" for k in RETURN_STATES) + ")",
            name="ck_return_status",
        ),
    )


class RefundRow(SQLModel, table=True):
    __tablename__ = "refunds"

    id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, primary_key=True))
    order_id: uuid.UUID = _order_id()
    transaction_id: str = Field(sa_column=sa.Column(sa.String(128), nullable=False, unique=True))
    kind: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    return_id: uuid.UUID | None = Field(
        default=None, sa_column=sa.Column(sa.Uuid, sa.ForeignKey("returns.id"))
    )
    amount_minor: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    currency: str = Field(sa_column=sa.Column(sa.String(3), nullable=False))
    reason: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    detail: dict[str, Any] = Field(sa_column=sa.Column(Json, nullable=False))
    created_at: datetime | None = _at()

    __table_args__ = (
        sa.CheckConstraint(
            "kind IN (" + ", ".join(f"'{k}'" for k in REFUND_KINDS) + ")",
            name="ck_refund_kind",
        ),
        sa.CheckConstraint("amount_minor > 0", name="ck_refund_amount"),
    )


class FinancialDocumentRow(SQLModel, table=True):
    __tablename__ = "financial_documents"

    id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, primary_key=True))
    order_id: uuid.UUID = _order_id()
    kind: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    shipment_id: uuid.UUID | None = Field(
        default=None, sa_column=sa.Column(sa.Uuid, sa.ForeignKey("shipments.id"), unique=True)
    )
    refund_id: uuid.UUID | None = Field(
        default=None, sa_column=sa.Column(sa.Uuid, sa.ForeignKey("refunds.id"), unique=True)
    )
    currency: str = Field(sa_column=sa.Column(sa.String(3), nullable=False))
    net_minor: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    tax_minor: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    shipping_minor: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    # The shipping's tax, part of tax_minor (net_minor + tax_minor + shipping_minor = total).
    shipping_tax_minor: int = Field(
        sa_column=sa.Column(sa.BigInteger, nullable=False, server_default="0")
    )
    total_minor: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    lines: list[dict[str, Any]] = Field(sa_column=sa.Column(Json, nullable=False))
    created_at: datetime | None = _at()

    __table_args__ = (
        sa.CheckConstraint(
            "kind IN (" + ", ".join(f"'{k}'" for k in DOCUMENT_KINDS) + ")",
            name="ck_document_kind",
        ),
        sa.CheckConstraint(
            "(kind = 'invoice') = (shipment_id IS NOT NULL) "
            "AND (kind = 'credit_memo') = (refund_id IS NOT NULL)",
            name="ck_document_source",
        ),
    )


def _table(model: type[SQLModel]) -> sa.Table:
    return model.__table__  # type: ignore[attr-defined,no-any-return]


order_changes = _table(OrderChangeRow)
hold_rules = _table(HoldRuleRow)
customers = _table(CustomerRow)
safety_stock = _table(SafetyStockRow)
payments = _table(PaymentRow)
returns = _table(ReturnRow)
refunds = _table(RefundRow)
financial_documents = _table(FinancialDocumentRow)
