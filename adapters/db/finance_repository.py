"""Payments, refunds and financial documents (domain.finance), and the returns a refund
reads; rows map to the domain's records field by field."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from adapters.db.lifecycle_tables import financial_documents, payments, refunds, returns
from domain.finance import DocumentLine, FinancialDocument, Payment, Refund, ReturnedGoods
from domain.ports import FinanceRepository

_PAYMENT_FIELDS = ("id", "order_id", "kind", "transaction_id", "source", "currency")
_REFUND_FIELDS = ("id", "order_id", "transaction_id", "kind", "return_id", "currency", "reason")


def _payment(row: Any) -> Payment:
    return Payment(
        **{name: getattr(row, name) for name in _PAYMENT_FIELDS},
        amount=row.amount_minor,
        shipment_id=row.shipment_id,
        created_at=row.created_at,
    )


def _refund(row: Any) -> Refund:
    return Refund(
        **{name: getattr(row, name) for name in _REFUND_FIELDS},
        amount=row.amount_minor,
        detail=row.detail,
        created_at=row.created_at,
    )


def _document(row: Any) -> FinancialDocument:
    lines = tuple(DocumentLine(**line) for line in row.lines)
    return FinancialDocument(
        order_id=row.order_id,
        kind=row.kind,
        currency=row.currency,
        lines=lines,
        shipping=row.shipping_minor,
        shipping_tax=row.shipping_tax_minor,
        # What no line carries is the amount-only credit's (partial, goodwill).
        other_net=row.net_minor - sum(line.net for line in lines),
        other_tax=row.tax_minor - row.shipping_tax_minor - sum(line.tax for line in lines),
        shipment_id=row.shipment_id,
        refund_id=row.refund_id,
        id=row.id,
        created_at=row.created_at,
    )


class SqlFinanceRepository(FinanceRepository):
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def payments(self, order_id: uuid.UUID) -> list[Payment]:
        query = (
            sa.select(payments)
            .where(payments.c.order_id == order_id)
            .order_by(payments.c.created_at, payments.c.id)
        )
        return [_payment(row) for row in self.conn.execute(query)]

    def documents(self, order_id: uuid.UUID) -> list[FinancialDocument]:
        table = financial_documents
        query = sa.select(table).where(table.c.order_id == order_id).order_by(table.c.created_at)
        return [_document(row) for row in self.conn.execute(query)]

    def find_payment(self, kind: str, transaction_id: str) -> Payment | None:
        row = self.conn.execute(
            sa.select(payments).where(
                payments.c.kind == kind, payments.c.transaction_id == transaction_id
            )
        ).first()
        return None if row is None else _payment(row)

    def add_payment(self, payment: Payment) -> bool:
        values = {name: getattr(payment, name) for name in _PAYMENT_FIELDS}
        statement = (
            insert(payments)
            .values(
                **values,
                amount_minor=payment.amount,
                shipment_id=payment.shipment_id,
                created_at=payment.created_at,
            )
            .on_conflict_do_nothing(constraint="uq_payment_transaction")
            .returning(payments.c.id)
        )
        return self.conn.execute(statement).first() is not None

    def find_refund(self, transaction_id: str) -> Refund | None:
        row = self.conn.execute(
            sa.select(refunds).where(refunds.c.transaction_id == transaction_id)
        ).first()
        return None if row is None else _refund(row)

    def refund_of_return(self, return_id: uuid.UUID) -> Refund | None:
        row = self.conn.execute(sa.select(refunds).where(refunds.c.return_id == return_id)).first()
        return None if row is None else _refund(row)

    def add_refund(self, refund: Refund) -> bool:
        values = {name: getattr(refund, name) for name in _REFUND_FIELDS}
        statement = (
            insert(refunds)
            .values(
                **values,
                amount_minor=refund.amount,
                detail=refund.detail,
                created_at=refund.created_at,
            )
            .on_conflict_do_nothing(index_elements=["transaction_id"])
            .returning(refunds.c.id)
        )
        return self.conn.execute(statement).first() is not None

    def add_document(self, document: FinancialDocument) -> None:
        self.conn.execute(
            sa.insert(financial_documents).values(
                id=document.id,
                order_id=document.order_id,
                kind=document.kind,
                shipment_id=document.shipment_id,
                refund_id=document.refund_id,
                currency=document.currency,
                net_minor=document.net,
                tax_minor=document.tax,
                shipping_minor=document.shipping,
                shipping_tax_minor=document.shipping_tax,
                total_minor=document.total,
                lines=[
                    {
                        "line_no": line.line_no,
                        "sku": line.sku,
                        "quantity": line.quantity,
                        "net": line.net,
                        "discount": line.discount,
                        "tax": line.tax,
                    }
                    for line in document.lines
                ],
                created_at=document.created_at,
            )
        )

    def returned_goods(self, return_id: uuid.UUID) -> ReturnedGoods | None:
        row = self.conn.execute(
            sa.select(returns.c.id, returns.c.order_id, returns.c.lines).where(
                returns.c.id == return_id
            )
        ).first()
        if row is None:
            return None
        units: dict[int, int] = {}
        for line in row.lines:
            units[int(line["line_no"])] = units.get(int(line["line_no"]), 0) + int(line["quantity"])
        return ReturnedGoods(row.id, row.order_id, units)
