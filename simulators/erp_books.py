"""The fake ERP's books beyond invoices: payment postings and credit memos, each refused
(422) when it would break them — a capture or void above what is authorized and not
captured (the sales order's payment, if authorized or paid, plus authorizations, less
voids); a credit memo above invoiced − credited, above captured − refunded, or crediting
more units of a line than were invoiced and not credited. And the money its read API
shows per sales order."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field

from simulators.endpoint import Call, Rejected, validated
from simulators.erp_pricing import Amounts, ErpDocument
from simulators.erp_units import (
    COMPONENTS,
    documents_of,
    major,
    minor,
    minor_part,
    sales_order_of,
    units_of,
)
from simulators.paging import iso
from simulators.store import SystemStore


class PaymentPosting(ErpDocument):
    order_ref: str = Field(min_length=1)
    payment_ref: str = Field(min_length=1)
    kind: Literal["authorization", "capture", "void"]
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    amount: Decimal = Field(gt=0)


class CreditMemo(Amounts):
    order_ref: str = Field(min_length=1)
    credit_memo_ref: str = Field(min_length=1)
    currency: str = Field(pattern=r"^[A-Z]{3}$")


def _payment_totals(store: SystemStore, order_ref: str) -> dict[str, int]:
    order = sales_order_of(store, order_ref)["order"]
    payment = order.get("payment") or {}
    authorized = captured = 0
    if payment.get("status") in ("authorized", "paid"):
        authorized = minor(payment["amount"], order["currency"])
    for posted in documents_of(store, "payments", order_ref):
        if posted["kind"] == "authorization":
            authorized += posted["minor_amount"]
        elif posted["kind"] == "void":
            authorized -= posted["minor_amount"]
        else:
            captured += posted["minor_amount"]
    credited = sum(minor_part(m, "total") for m in documents_of(store, "credit_memos", order_ref))
    invoiced = sum(minor_part(i, "total") for i in documents_of(store, "invoices", order_ref))
    return {
        "authorized": authorized,
        "captured": captured,
        "refunded": credited,
        "invoiced": invoiced,
    }


def payment(call: Call) -> tuple[int, dict[str, Any]]:
    """POST /erp/payments: an authorization, capture or void posted to the sales order."""
    doc = validated(PaymentPosting, call.body)
    record = sales_order_of(call.store, doc.order_ref)
    payments = call.store.collection("payments")
    if doc.payment_ref in payments:
        return 200, payments[doc.payment_ref]["reply"]
    amount = minor(doc.amount, doc.currency)
    totals = _payment_totals(call.store, doc.order_ref)
    free = totals["authorized"] - totals["captured"]
    if doc.kind != "authorization" and amount > free:
        raise Rejected(
            f"a {doc.kind} of {doc.amount} is above what is authorized and not captured:"
            f" {major(free, doc.currency)}"
        )
    reply = {"payment_number": call.store.next_number("PAY"), "status": "posted"}
    payments[doc.payment_ref] = {
        **doc.model_dump(mode="json"),
        "minor_amount": amount,
        "reply": reply,
    }
    record["updated_at"] = iso(datetime.now(UTC))
    return 201, reply


def credit_memo(call: Call) -> tuple[int, dict[str, Any]]:
    """POST /erp/credit-memos: money given back, within what was invoiced and captured."""
    doc = validated(CreditMemo, call.body)
    record = sales_order_of(call.store, doc.order_ref)
    memos = call.store.collection("credit_memos")
    if doc.credit_memo_ref in memos:
        return 200, memos[doc.credit_memo_ref]["reply"]
    cur = doc.currency
    parts = {name: minor(getattr(doc, name), cur) for name in COMPONENTS}
    lines_net = sum(minor(ln.net, cur) for ln in doc.lines)
    if (
        parts["net"] + parts["tax"] + parts["shipping"] != parts["total"]
        or lines_net > parts["net"]
    ):
        raise Rejected("the credit memo's parts do not add up to its total")
    totals = _payment_totals(call.store, doc.order_ref)
    if parts["total"] > totals["invoiced"] - totals["refunded"]:
        raise Rejected(
            f"a credit memo of {doc.total} is above what was invoiced and not credited:"
            f" {major(totals['invoiced'] - totals['refunded'], cur)}"
        )
    if parts["total"] > totals["captured"] - totals["refunded"]:
        raise Rejected(
            f"a credit memo of {doc.total} is above what was captured and not refunded:"
            f" {major(totals['captured'] - totals['refunded'], cur)}"
        )
    invoiced, credited = (
        units_of(documents_of(call.store, "invoices", doc.order_ref)),
        units_of(documents_of(call.store, "credit_memos", doc.order_ref)),
    )
    for ln in doc.lines:
        if credited.get(ln.line_no, 0) + ln.quantity > invoiced.get(ln.line_no, 0):
            raise Rejected(f"line {ln.line_no}: more units credited than invoiced")
    reply = {"credit_memo_number": call.store.next_number("CM"), "status": "posted"}
    memos[doc.credit_memo_ref] = {
        **doc.model_dump(mode="json"),
        "minor": parts,
        "reply": reply,
    }
    record["updated_at"] = iso(datetime.now(UTC))
    return 201, reply


def money_view(store: SystemStore, order_ref: str) -> dict[str, Any]:
    """The sales order's credit memos and payments, and its money figures (read API)."""
    currency = sales_order_of(store, order_ref)["order"]["currency"]
    totals = _payment_totals(store, order_ref)
    return {
        "credit_memos": [
            {
                "credit_memo_number": m["reply"]["credit_memo_number"],
                "credit_memo_ref": m["credit_memo_ref"],
                **{name: m[name] for name in COMPONENTS},
                "lines": m["lines"],
            }
            for m in documents_of(store, "credit_memos", order_ref)
        ],
        "payments": [
            {
                "payment_number": p["reply"]["payment_number"],
                "payment_ref": p["payment_ref"],
                "kind": p["kind"],
                "amount": p["amount"],
            }
            for p in documents_of(store, "payments", order_ref)
        ],
        "money": {name: major(value, currency) for name, value in totals.items()},
    }
