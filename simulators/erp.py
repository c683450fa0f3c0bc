"""The fake ERP: sales orders (upserted by ordersync's order id) and invoices for shipments."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from simulators.endpoint import Call, Rejected, validated


class _Doc(BaseModel):
    model_config = ConfigDict(extra="allow")


class SalesLine(_Doc):
    line_no: int = Field(ge=1)
    sku: str = Field(min_length=1)
    quantity: int = Field(gt=0)
    unit_price: Decimal = Field(ge=0)
    discount: Decimal = Field(ge=0)
    tax: Decimal = Field(ge=0)


class SalesOrder(_Doc):
    order_ref: str = Field(min_length=1)
    order_number: str = Field(min_length=1)
    channel: str = Field(min_length=1)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    customer: dict[str, Any]
    lines: list[SalesLine] = Field(min_length=1)
    totals: dict[str, Decimal]


class ShippedLine(_Doc):
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
    orders = call.store.collection("sales_orders")
    known = orders.get(order.order_ref)
    number = known["document_number"] if known else call.store.next_number("SO")
    orders[order.order_ref] = {"document_number": number, "order": order.model_dump(mode="json")}
    return (
        (200, {"document_number": number, "status": "updated"})
        if known
        else (
            201,
            {"document_number": number, "status": "created"},
        )
    )


def invoice(call: Call) -> tuple[int, dict[str, Any]]:
    """POST /erp/invoices: the shipped lines priced from the sales order (one per shipment)."""
    doc = validated(Invoice, call.body)
    known = call.store.collection("sales_orders").get(doc.order_ref)
    if known is None:
        raise Rejected(f"unknown sales order {doc.order_ref!r}: post the sales order first")
    order = SalesOrder.model_validate(known["order"])
    tracking = doc.shipment.get("tracking_number", "")
    natural = f"{doc.order_ref}/{doc.shipment.get('location', '')}/{tracking}"
    invoices = call.store.collection("invoices")
    if natural in invoices:
        return 200, invoices[natural]
    net = tax = Decimal(0)
    for shipped in doc.lines:
        ordered = [ln for ln in order.lines if ln.sku == shipped.sku]
        quantity = sum(ln.quantity for ln in ordered)
        if shipped.quantity > quantity:
            raise Rejected(f"{shipped.sku}: {shipped.quantity} shipped, {quantity} ordered")
        share = Decimal(shipped.quantity) / quantity
        net += sum((ln.unit_price * ln.quantity - ln.discount) * share for ln in ordered)
        tax += sum(ln.tax * share for ln in ordered)
    cent = Decimal("0.01")
    net, tax = net.quantize(cent), tax.quantize(cent)
    reply = {
        "invoice_number": call.store.next_number("INV"),
        "document_number": known["document_number"],
        "currency": order.currency,
        "net": str(net),
        "tax": str(tax),
        "total": str(net + tax),
    }
    invoices[natural] = reply
    return 201, reply
