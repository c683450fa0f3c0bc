"""What /openapi.json says POST /v1/payments and /v1/refunds answer (adapters.http.money
fills exactly these members)."""

from __future__ import annotations

from typing import Any

_MONEY = {"type": "string", "pattern": "^-?[0-9]+([.][0-9]+)?$"}
_ID = {"type": "string", "format": "uuid"}
_NULLABLE_ID = {"type": ["string", "null"], "format": "uuid"}
_TEXT = {"type": "string"}
_AMOUNT_LINE = {
    "type": "object",
    "required": ["line_no", "sku", "quantity", "net", "discount", "tax"],
    "properties": {
        "line_no": {"type": "integer"},
        "sku": _TEXT,
        "quantity": {"type": "integer"},
        "net": _MONEY,
        "discount": _MONEY,
        "tax": _MONEY,
    },
}
PAYMENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "order_id", "kind", "transaction_id", "amount", "currency"],
    "properties": {
        "id": _ID,
        "order_id": _ID,
        "kind": {"enum": ["authorization", "capture", "void"]},
        "transaction_id": _TEXT,
        "amount": _MONEY,
        "currency": _TEXT,
        "shipment_id": _NULLABLE_ID,
        "source": _TEXT,
        "created_at": _TEXT,
    },
}
REFUND_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "order_id", "kind", "transaction_id", "amount", "currency", "credit_memo"],
    "properties": {
        "id": _ID,
        "order_id": _ID,
        "kind": {"enum": ["return", "partial", "shipping", "goodwill"]},
        "transaction_id": _TEXT,
        "return_id": _NULLABLE_ID,
        "amount": _MONEY,
        "currency": _TEXT,
        "reason": _TEXT,
        "created_at": _TEXT,
        "credit_memo": {
            "type": "object",
            "description": "net, tax (the shipping's included), shipping; they add up to total",
            "properties": {
                "id": _ID,
                **{name: _MONEY for name in ("net", "tax", "shipping", "shipping_tax", "total")},
                "lines": {"type": "array", "items": _AMOUNT_LINE},
            },
        },
    },
}
