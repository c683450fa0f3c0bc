"""The fake ERP's changes to a sales order after it was posted: amendments (an edit: the
sales order as it now is) and cancellations (some lines' quantities, or the whole order).

A line that comes down to 0 leaves the sales order's lines (kept under `removed_lines`,
as an ERP keeps a deleted line's history); nothing comes below what is invoiced. A
cancelled sales order takes no change any more (and no invoice: erp.invoice).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from simulators.endpoint import Call, Rejected, validated
from simulators.erp import SalesLine, invoices_of, settle_status
from simulators.paging import iso


class _Doc(BaseModel):
    model_config = ConfigDict(extra="allow")


class AmendedLine(SalesLine):
    quantity: int = Field(ge=0)  # 0: the line was removed


class Amendment(_Doc):
    order_ref: str = Field(min_length=1)
    order_number: str = Field(min_length=1)
    ship_to: dict[str, Any]
    lines: list[AmendedLine] = Field(min_length=1)
    totals: dict[str, Decimal]
    reason: str


class CancelledLine(_Doc):
    line_no: int = Field(ge=1)
    sku: str = Field(min_length=1)
    quantity: int = Field(gt=0)
    net: Decimal = Field(ge=0)
    discount: Decimal = Field(ge=0)
    tax: Decimal = Field(ge=0)


class Cancellation(_Doc):
    order_ref: str = Field(min_length=1)
    order_number: str = Field(min_length=1)
    whole: bool
    reason: str
    lines: list[CancelledLine] = Field(min_length=1)
    totals: dict[str, Decimal]


def _open_sales_order(call: Call, order_ref: str) -> dict[str, Any]:
    record = call.store.collection("sales_orders").get(order_ref)
    if record is None:
        raise Rejected(f"unknown sales order {order_ref!r}: post the sales order first")
    if record["status"] == "cancelled":
        raise Rejected(f"sales order {record['document_number']} is cancelled")
    return record


def _invoiced(call: Call, order_ref: str) -> dict[str, int]:
    """Quantities invoiced per SKU."""
    invoiced: dict[str, int] = {}
    for held in invoices_of(call.store, order_ref):
        for line in held["lines"]:
            invoiced[line["sku"]] = invoiced.get(line["sku"], 0) + int(line["quantity"])
    return invoiced


def _set_lines(call: Call, record: dict[str, Any], lines: list[dict[str, Any]]) -> None:
    """The sales order's lines from now on, none below what is invoiced of its SKU."""
    ordered: dict[str, int] = {}
    for line in lines:
        ordered[line["sku"]] = ordered.get(line["sku"], 0) + int(line["quantity"])
    for sku, invoiced in _invoiced(call, record["order_ref"]).items():
        if ordered.get(sku, 0) < invoiced:
            raise Rejected(f"{sku}: {invoiced} invoiced, {ordered.get(sku, 0)} left ordered")
    kept = [line for line in lines if line["quantity"]]
    record["removed_lines"] = record.get("removed_lines", []) + [
        line for line in lines if not line["quantity"]
    ]
    record["order"]["lines"] = kept


def amendment(call: Call) -> tuple[int, dict[str, Any]]:
    """POST /erp/sales-orders/amendments: the sales order's lines, ship-to and totals now."""
    doc = validated(Amendment, call.body)
    if "grand_total" not in doc.totals:
        raise Rejected("totals.grand_total is required")
    record = _open_sales_order(call, doc.order_ref)
    _set_lines(call, record, [line.model_dump(mode="json") for line in doc.lines])
    record["order"]["ship_to"] = doc.ship_to
    record["order"]["totals"] = {k: str(v) for k, v in doc.totals.items()}
    record.setdefault("amendments", []).append({"reason": doc.reason})
    _changed(call, record)
    return 200, {"document_number": record["document_number"], "status": record["status"]}


def cancellation(call: Call) -> tuple[int, dict[str, Any]]:
    """POST /erp/sales-orders/cancellations: `whole` cancels the sales order (refused once
    anything is invoiced); otherwise each line given loses the quantity, discount and tax
    cancelled, and the sales order takes the totals sent."""
    doc = validated(Cancellation, call.body)
    record = _open_sales_order(call, doc.order_ref)
    if doc.whole:
        if invoices_of(call.store, doc.order_ref):
            raise Rejected(f"sales order {record['document_number']} is invoiced in part")
        record["cancelled"] = True
    else:
        lines = {line["line_no"]: dict(line) for line in record["order"]["lines"]}
        for cancelled in doc.lines:
            line = lines.get(cancelled.line_no)
            if line is None or line["sku"] != cancelled.sku:
                raise Rejected(f"line {cancelled.line_no} ({cancelled.sku}) is not on the order")
            if cancelled.quantity > line["quantity"]:
                raise Rejected(
                    f"line {cancelled.line_no}: {cancelled.quantity} cancelled of "
                    f"{line['quantity']}"
                )
            line["quantity"] -= cancelled.quantity
            for name in ("discount", "tax"):
                line[name] = str(Decimal(line[name]) - getattr(cancelled, name))
            if "net_amount" in line:
                line["net_amount"] = str(Decimal(line["net_amount"]) - cancelled.net)
        _set_lines(call, record, list(lines.values()))
        record["order"]["totals"] = {k: str(v) for k, v in doc.totals.items()}
    record.setdefault("cancellations", []).append(
        {"whole": doc.whole, "reason": doc.reason, "lines": call.body["lines"]}
    )
    _changed(call, record)
    return 200, {"document_number": record["document_number"], "status": record["status"]}


def _changed(call: Call, record: dict[str, Any]) -> None:
    record["updated_at"] = iso(datetime.now(UTC))
    settle_status(call.store, record["order_ref"])
