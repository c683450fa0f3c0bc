"""The fake ERP: sales orders (upserted by ordersync's order id) and invoices for shipments
(its read API: erp_reads.py).

A sales order's status is `open` until its invoices cover every ordered quantity, then
`invoiced`; `cancelled` once cancelled in whole (or by tampering), and a cancelled sales
order takes no invoice, amendment or cancellation. An amendment replaces its lines (at
their quantities now; one at 0 is removed), ship-to and totals; a cancellation of some
lines lowers their quantities, discounts and taxes by what it cancels and takes the
totals it carries — never below what is invoiced. So a sales order whose shipped part
is invoiced and whose rest was cancelled is `invoiced`.
A sales order posted again (an update, or a replay) takes the totals it carries and
its status from its invoices again, as an ERP reopens what its source sends anew.
Tampering (POST /_sim/erp/tamper, see tamper.py) seeds what reconciliation must find:
a lost sales order, another amount, another status, a second document number for one
order_ref (a duplicate).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from simulators.endpoint import Call, Rejected, validated
from simulators.erp_pricing import check_invoice
from simulators.erp_units import major
from simulators.paging import iso
from simulators.store import SystemStore


class _Doc(BaseModel):
    model_config = ConfigDict(extra="allow")


class SalesLine(_Doc):
    line_no: int = Field(ge=1)
    sku: str = Field(min_length=1)
    quantity: int = Field(gt=0)
    unit_price: Decimal = Field(ge=0)
    discount: Decimal = Field(ge=0)
    tax: Decimal = Field(ge=0)


class SalesTerms(_Doc):
    """A business customer's terms on the sales order (none: the channel's own terms)."""

    customer_po: str = Field(min_length=1)
    account: str = Field(min_length=1)
    payment_terms_days: int | None = Field(default=None, ge=0)
    requested_delivery_date: date | None = None


class SalesOrder(_Doc):
    order_ref: str = Field(min_length=1)
    order_number: str = Field(min_length=1)
    channel: str = Field(min_length=1)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    customer: dict[str, Any]
    lines: list[SalesLine] = Field(min_length=1)
    totals: dict[str, Decimal]
    terms: SalesTerms | None = None


class ShippedLine(_Doc):
    line_no: int | None = Field(default=None, ge=1)
    sku: str = Field(min_length=1)
    quantity: int = Field(gt=0)


class Invoice(_Doc):
    order_ref: str = Field(min_length=1)
    shipment: dict[str, str]
    lines: list[ShippedLine] = Field(min_length=1)


def sales_order(call: Call) -> tuple[int, dict[str, Any]]:
    """POST /erp/sales-orders: 201 with a new document number, 200 for a known order."""
    order = validated(SalesOrder, call.body)
    if "grand_total" not in order.totals:
        raise Rejected("totals.grand_total is required")
    store = call.store
    orders = store.collection("sales_orders")
    known = orders.get(order.order_ref)
    now = iso(datetime.now(UTC))
    record = known or {
        "document_number": store.next_number("SO"),
        "order_ref": order.order_ref,
        "seq": store.next_seq("sales_orders"),
        "created_at": now,
        "duplicate_document_numbers": [],
    }
    record["order"] = order.model_dump(mode="json")
    record["updated_at"] = now
    record.pop("cancelled", None)  # posted anew: reopened
    orders[order.order_ref] = record
    settle_status(store, order.order_ref)
    number = record["document_number"]
    if known:
        return 200, {"document_number": number, "status": "updated"}
    return 201, {"document_number": number, "status": "created"}


def settle_status(store: SystemStore, order_ref: str) -> None:
    """`cancelled` once cancelled; else `invoiced` once the order's invoices cover every
    ordered quantity, else `open`."""
    record = store.collection("sales_orders")[order_ref]
    if record.get("cancelled"):
        record["status"] = "cancelled"
        return
    ordered: dict[str, int] = {}
    for line in record["order"]["lines"]:
        ordered[line["sku"]] = ordered.get(line["sku"], 0) + int(line["quantity"])
    invoiced: dict[str, int] = {}
    for held in invoices_of(store, order_ref):
        for line in held["lines"]:
            invoiced[line["sku"]] = invoiced.get(line["sku"], 0) + int(line["quantity"])
    covered = all(invoiced.get(sku, 0) >= quantity for sku, quantity in ordered.items())
    record["status"] = "invoiced" if covered else "open"


def invoices_of(store: SystemStore, order_ref: str) -> list[dict[str, Any]]:
    return [i for i in store.collection("invoices").values() if i["order_ref"] == order_ref]


INVOICE_REPLY = (
    "invoice_number",
    "document_number",
    "currency",
    "net",
    "tax",
    "shipping",
    "total",
)


def invoice(call: Call) -> tuple[int, dict[str, Any]]:
    """POST /erp/invoices: the shipped lines priced from the sales order (one per shipment,
    erp_pricing.check_invoice), refused if they differ from the amounts sent."""
    doc = validated(Invoice, call.body)
    known = call.store.collection("sales_orders").get(doc.order_ref)
    if known is None:
        raise Rejected(f"unknown sales order {doc.order_ref!r}: post the sales order first")
    if known["status"] == "cancelled":
        raise Rejected(f"sales order {known['document_number']} is cancelled: nothing to invoice")
    order = SalesOrder.model_validate(known["order"])
    tracking = doc.shipment.get("tracking_number", "")
    natural = f"{doc.order_ref}/{doc.shipment.get('location', '')}/{tracking}"
    invoices = call.store.collection("invoices")
    if natural in invoices:
        return 200, {name: invoices[natural][name] for name in INVOICE_REPLY}
    priced = check_invoice(call.store, doc.order_ref, call.body)
    currency = order.currency
    reply = {
        "invoice_number": call.store.next_number("INV"),
        "document_number": known["document_number"],
        "currency": currency,
        **{name: major(priced["minor"][name], currency) for name in ("net", "tax", "shipping")},
        "total": major(priced["minor"]["total"], currency),
    }
    invoices[natural] = {
        **reply,
        "order_ref": doc.order_ref,
        "location": doc.shipment.get("location", ""),
        "tracking_number": tracking,
        "lines": priced["lines"],  # with their line_no and amounts, in minor units
        "minor": priced["minor"],
    }
    known["updated_at"] = iso(datetime.now(UTC))
    settle_status(call.store, doc.order_ref)
    return 201, reply
