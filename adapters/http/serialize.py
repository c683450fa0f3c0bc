"""Domain objects → the API's JSON documents."""

from __future__ import annotations

from typing import Any

from domain.orders import Order
from domain.ports import SkuStock


def order_json(order: Order) -> dict[str, Any]:
    return {
        "id": str(order.id),
        "channel": order.channel,
        "external_id": order.external_id,
        "status": order.status.value,
        "version": order.version,
        "currency": order.currency,
        "placed_at": order.placed_at.isoformat(),
        "customer": order.customer,
        "shipping_address": order.shipping_address,
        "billing_address": order.billing_address,
        "lines": [
            {
                "line_no": ln.line_no,
                "sku": ln.sku,
                "quantity": ln.quantity,
                "unit_price": str(ln.unit_price),
                "discount": str(ln.discount),
                "tax": str(ln.tax),
                "total": str(ln.total),
                "allocated": ln.allocated,
                "backordered": ln.backordered,
                "shipped": ln.shipped,
            }
            for ln in order.lines
        ],
        "shipping": order.shipping,
        "payment": order.payment,
        "totals": order.totals,
        "reservations": [
            {
                "id": str(r.id),
                "line_no": r.line_no,
                "sku": r.sku,
                "location": r.location,
                "quantity": r.quantity,
            }
            for r in order.reservations
        ],
        "created_at": order.created_at.isoformat() if order.created_at else None,
        "updated_at": order.updated_at.isoformat() if order.updated_at else None,
    }


def stock_json(stock: SkuStock) -> dict[str, Any]:
    levels = sorted(stock.levels, key=lambda lv: (lv.priority, lv.location))
    return {
        "sku": stock.sku,
        "atp": stock.atp,
        "locations": [
            {"location": lv.location, "on_hand": lv.on_hand, "reserved": lv.reserved, "atp": lv.atp}
            for lv in levels
        ],
    }
