"""The fake ERP's read API: its sales orders as it holds them, for reconciliation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from simulators.erp_books import money_view
from simulators.paging import page, page_query
from simulators.store import SystemStore


def sales_orders(
    store: SystemStore, params: Mapping[str, str], query: Mapping[str, str]
) -> dict[str, Any]:
    """GET /erp/sales-orders?since=ISO&cursor=C&limit=N: the sales orders changed since,
    each with the totals it received, its status, its invoices and the other document
    numbers its order_ref was given (duplicates)."""
    held: dict[str, list[dict[str, Any]]] = {}
    for one in store.collection("invoices").values():
        held.setdefault(one["order_ref"], []).append(one)

    def view(record: dict[str, Any]) -> dict[str, Any]:
        order = record["order"]
        return {
            "document_number": record["document_number"],
            "order_ref": record["order_ref"],
            "order_number": order["order_number"],
            "channel": order["channel"],
            "currency": order["currency"],
            "totals": order["totals"],
            "status": record["status"],
            "invoices": [
                {
                    "invoice_number": i["invoice_number"],
                    "location": i["location"],
                    "tracking_number": i["tracking_number"],
                    "total": i["total"],
                    **{name: i[name] for name in ("net", "tax", "shipping") if name in i},
                }
                for i in held.get(record["order_ref"], [])
            ],
            **money_view(store, record["order_ref"]),
            "duplicate_document_numbers": list(record["duplicate_document_numbers"]),
            "duplicates": len(record["duplicate_document_numbers"]),
            "created_at": record["created_at"],
            "updated_at": record["updated_at"],
        }

    return page(store.collection("sales_orders").values(), page_query(query, "since"), view)
