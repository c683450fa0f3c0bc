"""The fake ERP's money: invoices priced from its sales order, payment postings and credit
memos, each refused (422) when it would break the ERP's own books:

- an invoice is priced from the sales order as it now is (amended lines included): each
  unit of a line carries an equal share of its discount and tax by largest remainder in
  the currency's minor units, an invoice takes each line's next uninvoiced units, the
  shipping and its tax go on the first invoice. An invoice for more units than are left
  uninvoiced, above the uninvoiced amount, or whose amounts differ from that pricing is
  refused;
- a capture above what is authorized and not captured (the sales order's payment, if
  authorized or paid, plus authorizations, less voids) is refused, a void too;
- a credit memo above invoiced − credited, or above captured − refunded, or crediting
  more units of a line than were invoiced and not credited, is refused.

Like a real ERP this one knows the minor units of the currencies it books; it imports
nothing of ordersync.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from simulators.endpoint import Call, Rejected, validated
from simulators.paging import iso
from simulators.store import SystemStore

# The currencies whose minor unit is not the cent (ISO 4217); every other has two decimals.
_EXPONENTS = {"BHD": 3, "JOD": 3, "KWD": 3, "OMR": 3, "TND": 3, "CLP": 0, "ISK": 0, "JPY": 0}
_EXPONENTS |= {"KRW": 0, "VND": 0, "UGX": 0, "PYG": 0, "XAF": 0, "XOF": 0}
_COMPONENTS = ("net", "tax", "shipping", "shipping_tax", "total")


class _Doc(BaseModel):
    model_config = ConfigDict(extra="allow")


class AmountLine(_Doc):
    line_no: int = Field(ge=1)
    sku: str = Field(min_length=1)
    quantity: int = Field(gt=0)
    net: Decimal
    discount: Decimal = Field(ge=0)
    tax: Decimal = Field(ge=0)


class Amounts(_Doc):
    net: Decimal
    tax: Decimal = Field(ge=0)
    shipping: Decimal = Field(ge=0)
    shipping_tax: Decimal = Field(ge=0)
    total: Decimal = Field(ge=0)
    lines: list[AmountLine]


class PaymentPosting(_Doc):
    order_ref: str = Field(min_length=1)
    payment_ref: str = Field(min_length=1)
    kind: Literal["authorization", "capture", "void"]
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    amount: Decimal = Field(gt=0)


class CreditMemo(Amounts):
    order_ref: str = Field(min_length=1)
    credit_memo_ref: str = Field(min_length=1)
    currency: str = Field(pattern=r"^[A-Z]{3}$")


def minor(amount: Decimal | str, currency: str) -> int:
    """An amount in minor units; one finer than the currency's unit is refused."""
    scaled = Decimal(amount).scaleb(_EXPONENTS.get(currency, 2))
    if scaled != scaled.to_integral_value():
        raise Rejected(f"{amount} has more decimals than {currency} has")
    return int(scaled)


def major(units: int, currency: str) -> str:
    exponent = _EXPONENTS.get(currency, 2)
    return str(Decimal(units).scaleb(-exponent).quantize(Decimal(1).scaleb(-exponent)))


def unit_range(total: int, units: int, start: int, count: int) -> int:
    """Units [start, start + count) of `total` shared over `units` by largest remainder."""
    base, remainder = divmod(total, units)
    return base * count + max(0, min(start + count, remainder) - min(start, remainder))


def _sales_order(store: SystemStore, order_ref: str) -> dict[str, Any]:
    known = store.collection("sales_orders").get(order_ref)
    if known is None:
        raise Rejected(f"unknown sales order {order_ref!r}: post the sales order first")
    return known


def _of(store: SystemStore, name: str, order_ref: str) -> list[dict[str, Any]]:
    return [d for d in store.collection(name).values() if d["order_ref"] == order_ref]


def _units(documents: list[dict[str, Any]]) -> dict[int, int]:
    units: dict[int, int] = {}
    for document in documents:
        for line in document["lines"]:
            if "line_no" in line:
                units[line["line_no"]] = units.get(line["line_no"], 0) + int(line["quantity"])
    return units


def _money(document: dict[str, Any], name: str) -> int:
    return int(document.get("minor", {}).get(name, 0))


def _next_line(order: dict[str, Any], shipped: dict[str, Any], taken: dict[int, int]) -> Any:
    """The sales order line a shipped line invoices: the one it names (line_no), or for a
    document without line numbers the first line of its SKU with units left."""
    for line in order["lines"]:
        if line["sku"] != shipped["sku"] or shipped.get("line_no") not in (None, line["line_no"]):
            continue
        if shipped.get("line_no") is not None or line["quantity"] > taken.get(line["line_no"], 0):
            return line
    return None


def price_invoice(
    store: SystemStore, order_ref: str, lines: list[dict[str, Any]]
) -> dict[str, Any]:
    """The invoice of shipped `lines` ({line_no?, sku, quantity}) priced from the sales
    order as it now is, in minor units; Rejected for what was not ordered or is invoiced."""
    order = _sales_order(store, order_ref)["order"]
    currency = order["currency"]
    invoices = _of(store, "invoices", order_ref)
    taken = _units(invoices)
    priced = []
    for shipped in lines:
        line, quantity = _next_line(order, shipped, taken), int(shipped["quantity"])
        start = taken.get(line["line_no"], 0) if line else 0
        if line is None or start + quantity > int(line["quantity"]):
            left = int(line["quantity"]) - start if line else 0
            raise Rejected(f"{shipped['sku']}: {quantity} to invoice, {left} ordered and left")
        taken[line["line_no"]] = start + quantity
        units = int(line["quantity"])
        discount = unit_range(minor(line["discount"], currency), units, start, quantity)
        priced.append(
            {
                "line_no": line["line_no"],
                "sku": line["sku"],
                "quantity": quantity,
                "net": minor(line["unit_price"], currency) * quantity - discount,
                "discount": discount,
                "tax": unit_range(minor(line["tax"], currency), units, start, quantity),
            }
        )
    shipping = (order.get("shipping") or {}) if not invoices else {}  # on the first only
    ship = minor(shipping.get("amount", "0"), currency)
    ship_tax = minor(shipping.get("tax", "0"), currency)
    net = sum(p["net"] for p in priced)
    tax = sum(p["tax"] for p in priced) + ship_tax
    parts = {"net": net, "tax": tax, "shipping": ship, "shipping_tax": ship_tax}
    return {"lines": priced, "minor": {**parts, "total": net + tax + ship}}


def uninvoiced(store: SystemStore, order_ref: str) -> int:
    """What the sales order as it now is has left to invoice, in minor units."""
    order = _sales_order(store, order_ref)["order"]
    done = _units(_of(store, "invoices", order_ref))
    left = [
        {
            "line_no": ln["line_no"],
            "sku": ln["sku"],
            "quantity": ln["quantity"] - done.get(ln["line_no"], 0),
        }
        for ln in order["lines"]
        if done.get(ln["line_no"], 0) < ln["quantity"]
    ]
    return int(price_invoice(store, order_ref, left)["minor"]["total"]) if left else 0


def check_invoice(store: SystemStore, order_ref: str, body: dict[str, Any]) -> dict[str, Any]:
    """The invoice priced by the ERP, checked against the amounts ordersync sent (if it
    sent them) and against what is left uninvoiced."""
    priced = price_invoice(store, order_ref, body["lines"])
    currency = _sales_order(store, order_ref)["order"]["currency"]
    if priced["minor"]["total"] > uninvoiced(store, order_ref):
        raise Rejected("the invoice is above the sales order's uninvoiced amount")
    sent = body.get("amounts")
    if sent is not None:
        amounts = validated(Amounts, sent)
        mine = {name: major(priced["minor"][name], currency) for name in _COMPONENTS}
        theirs = {
            name: major(minor(getattr(amounts, name), currency), currency) for name in _COMPONENTS
        }
        lines = [
            (ln.line_no, ln.quantity, minor(ln.net, currency), minor(ln.tax, currency))
            for ln in amounts.lines
        ]
        expected = [(p["line_no"], p["quantity"], p["net"], p["tax"]) for p in priced["lines"]]
        if mine != theirs or sorted(lines) != sorted(expected):
            raise Rejected(f"the invoice's amounts {theirs} differ from the sales order's {mine}")
    return priced


def _payment_totals(store: SystemStore, order_ref: str) -> dict[str, int]:
    order = _sales_order(store, order_ref)["order"]
    payment = order.get("payment") or {}
    authorized = captured = 0
    if payment.get("status") in ("authorized", "paid"):
        authorized = minor(payment["amount"], order["currency"])
    for posted in _of(store, "payments", order_ref):
        if posted["kind"] == "authorization":
            authorized += posted["minor_amount"]
        elif posted["kind"] == "void":
            authorized -= posted["minor_amount"]
        else:
            captured += posted["minor_amount"]
    credited = sum(_money(m, "total") for m in _of(store, "credit_memos", order_ref))
    invoiced = sum(_money(i, "total") for i in _of(store, "invoices", order_ref))
    return {
        "authorized": authorized,
        "captured": captured,
        "refunded": credited,
        "invoiced": invoiced,
    }


def payment(call: Call) -> tuple[int, dict[str, Any]]:
    """POST /erp/payments: an authorization, capture or void posted to the sales order."""
    doc = validated(PaymentPosting, call.body)
    record = _sales_order(call.store, doc.order_ref)
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
    record = _sales_order(call.store, doc.order_ref)
    memos = call.store.collection("credit_memos")
    if doc.credit_memo_ref in memos:
        return 200, memos[doc.credit_memo_ref]["reply"]
    cur = doc.currency
    parts = {name: minor(getattr(doc, name), cur) for name in _COMPONENTS}
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
        _units(_of(call.store, "invoices", doc.order_ref)),
        _units(_of(call.store, "credit_memos", doc.order_ref)),
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
    currency = _sales_order(store, order_ref)["order"]["currency"]
    totals = _payment_totals(store, order_ref)
    return {
        "credit_memos": [
            {
                "credit_memo_number": m["reply"]["credit_memo_number"],
                "credit_memo_ref": m["credit_memo_ref"],
                **{name: m[name] for name in _COMPONENTS},
                "lines": m["lines"],
            }
            for m in _of(store, "credit_memos", order_ref)
        ],
        "payments": [
            {
                "payment_number": p["reply"]["payment_number"],
                "payment_ref": p["payment_ref"],
                "kind": p["kind"],
                "amount": p["amount"],
            }
            for p in _of(store, "payments", order_ref)
        ],
        "money": {name: major(value, currency) for name, value in totals.items()},
    }
