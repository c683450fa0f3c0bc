"""The ERP: a sales order per accepted order, an invoice per shipment, a payment posting per
authorization, capture or void, a credit memo per refund (the ERP is the system of record
for money and stock). Its documents, its client and its handler table, and its
reconciliation (what it holds, read through its API, against what ordersync holds); its
entry in actors/systems.py names it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from adapters.systems.handlers import handlers, on
from adapters.systems.http import SystemClient, reply_field
from adapters.systems.paging import read_pages
from adapters.systems.reconciliation import Discrepancy, OrderOnRecord, Reconciliation
from domain.events import (
    InvoiceOut,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    PaymentRecorded,
    RefundRecorded,
    ShipmentDispatched,
)


def sales_order_document(order: OrderAccepted) -> dict[str, Any]:
    """The ERP's sales order for an accepted order (amounts as decimal strings)."""
    customer = order.customer
    return {
        "order_ref": order.order_id,
        "order_number": order.external_id,
        "channel": order.channel,
        "order_date": order.placed_at.isoformat(),
        "currency": order.currency,
        "customer": {
            "email": str(customer.get("email", "")).strip().lower(),
            "name": customer.get("name"),
            "phone": customer.get("phone"),
        },
        "bill_to": order.billing_address or order.shipping_address,
        "ship_to": order.shipping_address,
        "lines": [
            {
                "line_no": line.line_no,
                "sku": line.sku,
                "quantity": line.quantity,
                "unit_price": line.unit_price,
                "discount": line.discount,  # for the whole line
                "tax": line.tax,  # for the whole line
                "net_amount": str(
                    Decimal(line.unit_price) * line.quantity - Decimal(line.discount)
                ),
            }
            for line in order.lines
        ],
        "shipping": order.shipping,
        "payment": order.payment,
        "totals": dict(order.totals),
        # Only on an order the channel ships from its own stock (Amazon FBA): no other
        # sales order changes.
        **({"fulfilled_by": "channel"} if order.fulfilled_by_channel else {}),
        "terms": terms_document(order.b2b),
    }


def terms_document(b2b: dict[str, Any] | None) -> dict[str, Any] | None:
    """A business customer's sales-order terms: its PO number, account, net payment terms
    and requested delivery date (None: a consumer's order, on the channel's terms)."""
    if b2b is None:
        return None
    return {
        "customer_po": b2b.get("purchase_order"),
        "account": b2b.get("company_account"),
        "payment_terms_days": b2b.get("payment_terms_days"),
        "requested_delivery_date": b2b.get("requested_delivery_date"),
    }


def amendment_document(order: OrderAmended) -> dict[str, Any]:
    """Customer service changed the order: the sales order as it now is — every line at
    its live quantity (0: removed) with its share of discount and tax, ship-to, totals."""
    document = sales_order_document(order)
    return {
        key: document[key]
        for key in ("order_ref", "order_number", "channel", "currency", "ship_to", "lines")
    } | {"totals": dict(order.totals), "reason": order.reason}


def cancellation_document(cancel: OrderCancelled) -> dict[str, Any]:
    """Units of the order were cancelled (`whole`: all of it, nothing shipped): the lines'
    cancelled quantities with their money, and the order's totals after it."""
    return {
        "order_ref": cancel.order_id,
        "order_number": cancel.external_id,
        "channel": cancel.channel,
        "whole": cancel.whole,
        "reason": cancel.reason,
        "currency": cancel.currency,
        "lines": [line.model_dump() for line in cancel.lines],
        "totals": dict(cancel.totals),
    }


def invoice_document(shipment: ShipmentDispatched) -> dict[str, Any]:
    """The ERP's invoice request for a shipment: the ERP prices it from the sales order."""
    return {
        "order_ref": shipment.order_id,
        "order_number": shipment.external_id,
        "channel": shipment.channel,
        "shipment": {
            "location": shipment.location,
            "carrier": shipment.carrier,
            "tracking_number": shipment.tracking_number,
        },
        "lines": [
            {"line_no": line.line_no, "sku": line.sku, "quantity": line.quantity}
            for line in shipment.lines
        ],
        # ordersync's amounts: the ERP prices the shipment itself and refuses a mismatch.
        "amounts": None if shipment.invoice is None else amounts_document(shipment.invoice),
    }


def amounts_document(invoice: InvoiceOut) -> dict[str, Any]:
    """A shipment's invoice amounts, as ordersync split them."""
    return invoice.model_dump(exclude={"invoice_id"})


def payment_document(payment: PaymentRecorded) -> dict[str, Any]:
    """A payment posting: an authorization, capture (of one shipment) or void."""
    return {
        "order_ref": payment.order_id,
        "payment_ref": payment.payment_id,
        "kind": payment.kind,
        "transaction_id": payment.transaction_id,
        "currency": payment.currency,
        "amount": payment.amount,
        "shipment_ref": payment.shipment_id,
        "authorized": payment.authorized,
        "captured": payment.captured,
    }


def credit_memo_document(refund: RefundRecorded) -> dict[str, Any]:
    """A credit memo: the refund's lines, net, tax (shipping's included) and shipping."""
    return {
        "order_ref": refund.order_id,
        "credit_memo_ref": refund.refund_id,
        "transaction_id": refund.transaction_id,
        "kind": refund.kind,
        "return_ref": refund.return_id,
        "reason": refund.reason,
        "currency": refund.currency,
        "lines": [line.model_dump() for line in refund.lines],
        "net": refund.net,
        "tax": refund.tax,
        "shipping": refund.shipping,
        "shipping_tax": refund.shipping_tax,
        "total": refund.amount,
    }


class _Read(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class ErpInvoice(_Read):
    invoice_number: str = Field(min_length=1)
    location: str
    tracking_number: str
    total: Decimal


class ErpSalesOrder(_Read):
    """A sales order as the ERP holds it (GET sales-orders): the totals it received, its
    status (open, invoiced, cancelled), its invoices, and the other document numbers its
    order_ref was given (duplicates)."""

    document_number: str = Field(min_length=1)
    order_ref: str = Field(min_length=1)
    currency: str = Field(min_length=1)
    totals: dict[str, Decimal]
    status: str = Field(min_length=1)
    invoices: tuple[ErpInvoice, ...] = ()
    duplicate_document_numbers: tuple[str, ...] = ()


class ErpClient(SystemClient):
    default_system = "erp"
    page_size = 200

    def sales_orders(self, since: datetime) -> Iterator[ErpSalesOrder]:
        """The sales orders the ERP changed at or after `since`, every page of them."""
        params: dict[str, str | int] = {"since": since.isoformat(), "limit": self.page_size}
        return read_pages(self, "sales-orders", params, ErpSalesOrder, what="sales-orders")

    def post_sales_order(self, order: OrderAccepted, *, idempotency_key: str) -> str:
        """Post the sales order; the ERP's document number."""
        reply = self.post(
            "sales-orders", sales_order_document(order), idempotency_key=idempotency_key
        )
        return reply_field(self.system, reply, "document_number")

    def amend_sales_order(self, order: OrderAmended, *, idempotency_key: str) -> str:
        """Amend the sales order (an edit); its document number."""
        reply = self.post(
            "sales-orders/amendments", amendment_document(order), idempotency_key=idempotency_key
        )
        return reply_field(self.system, reply, "document_number")

    def cancel_sales_order(self, cancel: OrderCancelled, *, idempotency_key: str) -> str:
        """Cancel the sales order, or some of its lines' quantities; its status after."""
        reply = self.post(
            "sales-orders/cancellations",
            cancellation_document(cancel),
            idempotency_key=idempotency_key,
        )
        return reply_field(self.system, reply, "status")

    def post_invoice(self, shipment: ShipmentDispatched, *, idempotency_key: str) -> str:
        """Ask the ERP to invoice a shipment; the invoice number."""
        reply = self.post("invoices", invoice_document(shipment), idempotency_key=idempotency_key)
        return reply_field(self.system, reply, "invoice_number")

    def post_payment(self, payment: PaymentRecorded, *, idempotency_key: str) -> str:
        """Post a payment to the sales order; the ERP's payment number."""
        reply = self.post("payments", payment_document(payment), idempotency_key=idempotency_key)
        return reply_field(self.system, reply, "payment_number")

    def post_credit_memo(self, refund: RefundRecorded, *, idempotency_key: str) -> str:
        """Post a refund's credit memo; its number."""
        reply = self.post(
            "credit-memos", credit_memo_document(refund), idempotency_key=idempotency_key
        )
        return reply_field(self.system, reply, "credit_memo_number")


HANDLERS = handlers(
    on(OrderAccepted, ErpClient.post_sales_order),
    on(ShipmentDispatched, ErpClient.post_invoice),
    on(PaymentRecorded, ErpClient.post_payment),
    on(RefundRecorded, ErpClient.post_credit_memo),
    on(OrderAmended, ErpClient.amend_sales_order),
    on(OrderCancelled, ErpClient.cancel_sales_order),
)


def expected_status(order: OrderOnRecord) -> str:
    """The ERP's status of a sales order all of whose documents it received."""
    if order.cancelled:
        return "cancelled"
    return "invoiced" if order.fully_shipped else "open"


def compare_sales_orders(order: OrderOnRecord, found: list[ErpSalesOrder]) -> list[Discrepancy]:
    """What is wrong with the ERP's documents of one order: one sales order (one document
    number) with its grand total and currency, its status, one invoice per shipment."""

    def wrong(kind: str, document: str, expected: str, was: str) -> Discrepancy:
        return Discrepancy(kind, order.order_id, order.external_id, document, expected, was)

    total = f"{order.grand_total} {order.currency}"
    if not found:
        invoices = f" and {len(order.shipments)} invoice(s)" if order.shipments else ""
        return [wrong("missing", "sales order" + invoices, total, "nothing")]
    out = []
    numbers = {n for so in found for n in (so.document_number, *so.duplicate_document_numbers)}
    if len(numbers) > 1:
        out.append(wrong("duplicate", "sales order", "1 document", ", ".join(sorted(numbers))))
    first = found[0]
    grand_total = first.totals.get("grand_total")
    if grand_total != order.grand_total or first.currency != order.currency:
        out.append(wrong("amount", "sales order", total, f"{grand_total} {first.currency}"))
    if first.status != expected_status(order):
        out.append(wrong("status", "sales order", expected_status(order), first.status))
    invoiced = {(i.location, i.tracking_number) for so in found for i in so.invoices}
    for location, tracking in sorted(order.shipments - invoiced):
        out.append(wrong("missing", f"invoice {location}/{tracking}", "an invoice", "nothing"))
    return out


RECONCILIATION: Reconciliation[ErpSalesOrder] = Reconciliation(
    read=ErpClient.sales_orders,
    order_of=lambda sales_order: sales_order.order_ref,
    compare=compare_sales_orders,
)
