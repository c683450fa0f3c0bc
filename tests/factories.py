"""Test documents: the contract example of DESIGN.md, and variations of it."""

from __future__ import annotations

import copy
from typing import Any

CONTRACT_ORDER: dict[str, Any] = {
    "external_id": "WEB-10001",
    "placed_at": "2026-11-26T10:00:00Z",
    "currency": "EUR",
    "customer": {"email": "ana@example.com", "name": "Ana Silva", "phone": "+351910000000"},
    "shipping_address": {
        "name": "Ana Silva",
        "line1": "Rua Augusta 1",
        "line2": None,
        "city": "Lisboa",
        "postal_code": "1100-048",
        "region": None,
        "country": "PT",
    },
    "billing_address": {
        "name": "Ana Silva",
        "line1": "Rua Augusta 1",
        "line2": None,
        "city": "Lisboa",
        "postal_code": "1100-048",
        "region": None,
        "country": "PT",
    },
    "lines": [
        {
            "sku": "TEE-M-BLK",
            "quantity": 2,
            "unit_price": "19.90",
            "discount": "0.00",
            "tax": "9.15",
        }
    ],
    "shipping": {"method": "standard", "amount": "4.90", "tax": "1.13"},
    "payment": {"method": "card", "status": "authorized", "amount": "54.98"},
    "totals": {"grand_total": "54.98"},
}


def order_doc(
    external_id: str = "WEB-10001", lines: list[tuple[str, int]] | None = None
) -> dict[str, Any]:
    """The contract order, optionally with other lines (each at 10.00, no tax or discount)."""
    doc = copy.deepcopy(CONTRACT_ORDER)
    doc["external_id"] = external_id
    if lines is not None:
        doc["lines"] = [
            {"sku": sku, "quantity": qty, "unit_price": "10.00", "discount": "0.00", "tax": "0.00"}
            for sku, qty in lines
        ]
        total = sum(qty for _, qty in lines) * 10 + 4.90 + 1.13
        doc["totals"] = {"grand_total": f"{total:.2f}"}
        doc["payment"]["amount"] = f"{total:.2f}"
    return doc


# A B2B portal's terms (PlaceOrder.b2b), far enough ahead not to be past for years.
B2B_TERMS: dict[str, Any] = {
    "purchase_order": "PO-2026-0042",
    "company_account": "ACME-001",
    "payment_terms_days": 30,
    "requested_delivery_date": "2099-12-15",
}
# Optional blocks a document may lack: with_field fills one in (valid) to set a field in it.
OPTIONAL_BLOCKS: dict[str, dict[str, Any]] = {"b2b": B2B_TERMS}


def with_field(doc: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    """A deep copy of `doc` with the field at `dotted` (e.g. "lines.0.sku") set to `value`
    (an optional block it lacks, such as b2b, filled in from OPTIONAL_BLOCKS first)."""
    doc = copy.deepcopy(doc)
    *parents, last = dotted.split(".")
    target: Any = doc
    for part in parents:
        if isinstance(target, dict) and target.get(part) is None and part in OPTIONAL_BLOCKS:
            target[part] = copy.deepcopy(OPTIONAL_BLOCKS[part])
        target = target[int(part)] if part.isdigit() else target[part]
    target[last] = value
    return doc
