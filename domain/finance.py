"""The money records of an order: payments, refunds and the financial documents (an invoice
per shipment, a credit memo per refund), all in integer minor units of the order's currency.

A document's `tax` includes the shipping's tax; `shipping` is the shipping net of tax, so
total = net + tax + shipping and the shipping's tax is tax − Σ lines' tax.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

INVOICE = "invoice"
CREDIT_MEMO = "credit_memo"
AUTHORIZATION, CAPTURE, VOID = "authorization", "capture", "void"


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class DocumentLine:
    """A line's part in a document: its units and their exact share of the line's money."""

    line_no: int
    sku: str
    quantity: int
    net: int  # unit price × quantity − the units' discount share
    discount: int
    tax: int


@dataclass(frozen=True, slots=True)
class FinancialDocument:
    order_id: uuid.UUID
    kind: str  # INVOICE or CREDIT_MEMO
    currency: str
    lines: tuple[DocumentLine, ...]
    shipping: int = 0  # the shipping charged (invoice) or given back (credit memo), net
    shipping_tax: int = 0
    other_net: int = 0  # an amount-only credit's net beyond any line (partial, goodwill)
    other_tax: int = 0
    shipment_id: uuid.UUID | None = None
    refund_id: uuid.UUID | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    created_at: datetime = field(default_factory=_now)

    @property
    def net(self) -> int:
        return sum(line.net for line in self.lines) + self.other_net

    @property
    def tax(self) -> int:
        return sum(line.tax for line in self.lines) + self.shipping_tax + self.other_tax

    @property
    def total(self) -> int:
        return self.net + self.tax + self.shipping


@dataclass(frozen=True, slots=True)
class Payment:
    order_id: uuid.UUID
    kind: str  # AUTHORIZATION, CAPTURE or VOID
    transaction_id: str
    source: str  # who reported it ("kind:name"), or "prepaid" for an up-front capture applied
    amount: int
    currency: str
    shipment_id: uuid.UUID | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    created_at: datetime = field(default_factory=_now)

    def same_as(self, other: Payment) -> bool:
        """The same report again (a platform retrying), whoever relayed it."""
        return (self.order_id, self.kind, self.amount, self.currency, self.shipment_id) == (
            other.order_id,
            other.kind,
            other.amount,
            other.currency,
            other.shipment_id,
        )


@dataclass(frozen=True, slots=True)
class Refund:
    order_id: uuid.UUID
    transaction_id: str
    kind: str  # return, partial, shipping, goodwill
    amount: int
    currency: str
    reason: str
    detail: dict[str, Any]  # what was asked for: the comparison of a repeat
    return_id: uuid.UUID | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    created_at: datetime = field(default_factory=_now)


@dataclass(frozen=True, slots=True)
class ReturnedGoods:
    """A return as the refund needs it: its order and its lines (line_no → units)."""

    id: uuid.UUID
    order_id: uuid.UUID
    lines: dict[int, int]
