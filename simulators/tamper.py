"""POST /_sim/erp/tamper: change what the fake ERP holds behind ordersync's back, as a
restore from a backup, a clerk or a bug would, so tests can seed every discrepancy that
reconciliation must find.

One sales order per request, by its order_ref:
  {"order_ref": "…", "delete": true}           the ERP lost it (and its invoices);
  {"order_ref": "…", "grand_total": "1.00"}    it holds another amount;
  {"order_ref": "…", "status": "cancelled"}    another status (open, invoiced, cancelled);
  {"order_ref": "…", "duplicate": true}        the order_ref got a second document number.
The last three combine. Everything is checked before anything changes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from simulators.erp import invoices_of
from simulators.paging import iso
from simulators.store import SystemStore

STATUSES = ("open", "invoiced", "cancelled")
CHANGES = ("delete", "grand_total", "status", "duplicate")


class TamperError(ValueError):
    """The tampering asked for is not valid; `status` is the HTTP status to answer."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.status = status


def tamper(store: SystemStore, body: Any) -> dict[str, Any]:
    """Apply one tampering; the sales order as it is now (or that it was deleted)."""
    if not isinstance(body, dict):
        raise TamperError("send a JSON object: order_ref and what to change")
    unknown = set(body) - {"order_ref", *CHANGES}
    if unknown:
        raise TamperError(f"unknown fields: {', '.join(sorted(unknown))}")
    ref = body.get("order_ref")
    if not isinstance(ref, str) or not ref:
        raise TamperError("order_ref must name a sales order")
    changes = {name: body[name] for name in CHANGES if name in body}
    if not changes:
        raise TamperError(f"say what to change: one or more of {', '.join(CHANGES)}")
    if "delete" in changes and len(changes) > 1:
        raise TamperError("delete goes alone")
    for flag in ("delete", "duplicate"):
        if flag in changes and changes[flag] is not True:
            raise TamperError(f"{flag} must be true")
    total = _amount(changes["grand_total"]) if "grand_total" in changes else None
    if "status" in changes and changes["status"] not in STATUSES:
        raise TamperError(f"status must be one of {', '.join(STATUSES)}")
    orders = store.collection("sales_orders")
    record = orders.get(ref)
    if record is None:
        raise TamperError(f"no sales order for order_ref {ref!r}", status=404)
    if "delete" in changes:
        del orders[ref]
        for name in ("invoices", "payments", "credit_memos"):  # and every document on it
            held = store.collection(name)
            for key in [k for k, i in held.items() if i["order_ref"] == ref]:
                del held[key]
        return {"order_ref": ref, "deleted": True}
    if total is not None:
        record["order"]["totals"]["grand_total"] = str(total)
    if "status" in changes:
        record["status"] = changes["status"]
    if "duplicate" in changes:
        record["duplicate_document_numbers"].append(store.next_number("SO"))
    record["updated_at"] = iso(datetime.now(UTC))
    return {
        "order_ref": ref,
        "document_number": record["document_number"],
        "grand_total": record["order"]["totals"]["grand_total"],
        "status": record["status"],
        "invoices": len(invoices_of(store, ref)),
        "duplicate_document_numbers": list(record["duplicate_document_numbers"]),
    }


def _amount(value: Any) -> Decimal:
    try:
        amount = Decimal(value) if isinstance(value, str) else None
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite():
        raise TamperError(f"grand_total must be a decimal string such as '10.00' (got {value!r})")
    return amount
