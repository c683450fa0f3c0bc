"""The ERP: a sales order per accepted order, an invoice per shipment (the ERP is the system
of record for money and stock). Its documents, its client and its handler table; its entry
in actors/systems.py names it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from adapters.systems.handlers import handlers, on
from adapters.systems.http import SystemClient, reply_field
from domain.events import OrderAccepted, ShipmentDispatched


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
        "lines": [{"sku": line.sku, "quantity": line.quantity} for line in shipment.lines],
    }


class ErpClient(SystemClient):
    default_system = "erp"

    def post_sales_order(self, order: OrderAccepted, *, idempotency_key: str) -> str:
        """Post the sales order; the ERP's document number."""
        reply = self.post(
            "sales-orders", sales_order_document(order), idempotency_key=idempotency_key
        )
        return reply_field(self.system, reply, "document_number")

    def post_invoice(self, shipment: ShipmentDispatched, *, idempotency_key: str) -> str:
        """Ask the ERP to invoice a shipment; the invoice number."""
        reply = self.post("invoices", invoice_document(shipment), idempotency_key=idempotency_key)
        return reply_field(self.system, reply, "invoice_number")


HANDLERS = handlers(
    on(OrderAccepted, ErpClient.post_sales_order),
    on(ShipmentDispatched, ErpClient.post_invoice),
)
