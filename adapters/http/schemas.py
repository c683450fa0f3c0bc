"""What /openapi.json says beyond the request models: parameters, response bodies, links.

Each schema describes exactly what adapters/http/serialize.py and the handlers return
(a schema-driven client, and the schemathesis run in tests/integration, check it), and
each parameter states the rules its handler enforces. The Order schema is also the
order document's list of members: serialize.order_json fills it from the model, in
this order (tests/unit/test_order_fields.py holds it to the model's fields).
"""

from __future__ import annotations

from typing import Any

from adapters.http.cursors import MAX_LENGTH as MAX_CURSOR
from domain.commands import RFC3339_PATTERN, TEXT_PATTERN

STRING = {"type": "string"}
NULLABLE_STRING = {"type": ["string", "null"]}
INTEGER = {"type": "integer"}
OBJECT = {"type": "object"}


def text(max_length: int) -> dict[str, Any]:
    """A text parameter: what adapters/http/params.text_param accepts (and a bit less)."""
    return {"type": "string", "minLength": 1, "maxLength": max_length, "pattern": TEXT_PATTERN}


PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "order_id": {"type": "string", "format": "uuid"},
    "return_id": {"type": "string", "format": "uuid"},
    "customer_id": {"type": "string", "format": "uuid"},
    "sku": text(64),  # the SKU rules of the request models (domain/commands.py)
}

QUERY_PARAMETERS: dict[str, list[dict[str, Any]]] = {
    "list_orders": [
        {"name": "channel", "in": "query", "schema": text(64)},
        {"name": "external_id", "in": "query", "schema": text(128)},
        {
            "name": "updated_since",
            "in": "query",
            "schema": {"type": "string", "format": "date-time", "pattern": RFC3339_PATTERN},
        },
        {
            "name": "cursor",
            "in": "query",
            "description": "next_cursor of the previous page (signed: no other value is valid)",
            "schema": {
                "type": "string",
                "maxLength": MAX_CURSOR,
                "pattern": "^[A-Za-z0-9_-]+[.][A-Za-z0-9_-]+$",
            },
        },
        {
            "name": "limit",
            "in": "query",
            "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
        },
    ],
}

_LINE = {
    "type": "object",
    "required": ["line_no", "sku", "quantity", "unit_price", "discount", "tax", "total"],
    "properties": {
        "line_no": INTEGER,
        "sku": STRING,
        "quantity": INTEGER,
        "unit_price": STRING,
        "discount": STRING,
        "tax": STRING,
        "total": STRING,
        "allocated": INTEGER,
        "backordered": INTEGER,
        "shipped": INTEGER,
        "cancelled": INTEGER,
        "returned": INTEGER,
    },
}
_RESERVATION = {
    "type": "object",
    "required": ["id", "line_no", "sku", "location", "quantity"],
    "properties": {
        "id": STRING,
        "line_no": INTEGER,
        "sku": STRING,
        "location": STRING,
        "quantity": INTEGER,
    },
}
_STOCK_LEVEL = {
    "type": "object",
    "required": ["location", "on_hand", "reserved", "atp"],
    "properties": {"location": STRING, "on_hand": INTEGER, "reserved": INTEGER, "atp": INTEGER},
}

RESPONSE_SCHEMAS: dict[str, dict[str, Any]] = {
    "Order": {
        "type": "object",
        "required": ["id", "channel", "external_id", "status", "version", "lines", "totals"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "channel": STRING,
            "external_id": STRING,
            "status": STRING,
            "version": INTEGER,
            "currency": STRING,
            "placed_at": STRING,
            "customer": OBJECT,
            "shipping_address": OBJECT,
            "billing_address": {"type": ["object", "null"]},
            "lines": {"type": "array", "items": _LINE},
            "shipping": {"type": ["object", "null"]},
            "payment": {"type": ["object", "null"]},
            "b2b": {
                "type": ["object", "null"],
                "description": "a business customer's terms, as sent (null: none)",
            },
            "totals": OBJECT,
            "reservations": {"type": "array", "items": _RESERVATION},
            "holds": {"type": "array", "items": STRING},
            "fulfilled_by_channel": {
                "type": "boolean",
                "description": "the channel ships it from its own stock (Amazon FBA)",
            },
            "customer_id": {"type": ["string", "null"], "format": "uuid"},
            "correlation_id": {
                "type": ["string", "null"],
                "description": "the X-Correlation-ID of the request that created the order "
                "(its events carry it too); null for orders older than it",
            },
            "money": {
                "type": "object",
                "description": "authorized, captured, refunded, invoiced and credited so far",
                "properties": {
                    name: STRING
                    for name in ("authorized", "captured", "refunded", "invoiced", "credited")
                },
            },
            "created_at": NULLABLE_STRING,
            "updated_at": NULLABLE_STRING,
        },
    },
    "OrderPage": {
        "type": "object",
        "required": ["items", "next_cursor"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/Order"}},
            "next_cursor": NULLABLE_STRING,
        },
    },
    "Deliveries": {
        "type": "object",
        "required": ["order_id", "destinations"],
        "properties": {
            "order_id": STRING,
            "destinations": {
                "type": "object",
                "additionalProperties": {"type": "array", "items": OBJECT},
            },
        },
    },
    "Shipment": {
        "type": "object",
        "required": ["id", "order_id", "location", "carrier", "tracking_number", "lines"],
        "properties": {
            "id": STRING,
            "order_id": {"type": "string", "format": "uuid"},
            "location": STRING,
            "carrier": STRING,
            "tracking_number": STRING,
            "lines": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["sku", "quantity"],
                    "properties": {"sku": STRING, "quantity": INTEGER},
                },
            },
            "created_at": STRING,
        },
    },
    "Stock": {
        "type": "object",
        "required": ["sku", "atp", "locations"],
        "properties": {
            "sku": STRING,
            "atp": INTEGER,
            "locations": {"type": "array", "items": _STOCK_LEVEL},
        },
    },
    "Adjusted": {
        "type": "object",
        "required": ["skus"],
        "properties": {"skus": {"type": "array", "items": {"$ref": "#/components/schemas/Stock"}}},
    },
    "Health": {"type": "object", "required": ["status"], "properties": {"status": STRING}},
}

# operationId → the schema of its success response.
RESPONSES: dict[str, str] = {
    "post_order": "Order",
    "list_orders": "OrderPage",
    "get_one": "Order",
    "patch_order": "Order",
    "post_cancel": "Order",
    "get_deliveries": "Deliveries",
    "post_shipment": "Shipment",
    "post_adjustments": "Adjusted",
    "get_sku": "Stock",
    "healthz": "Health",
    "readyz": "Health",
}

_ORDER_LINKS = {
    "GetOrder": {"operationId": "get_one", "parameters": {"order_id": "$response.body#/id"}},
    "GetDeliveries": {
        "operationId": "get_deliveries",
        "parameters": {"order_id": "$response.body#/id"},
    },
    "GetTimeline": {
        "operationId": "get_timeline",
        "parameters": {"order_id": "$response.body#/id"},
    },
    "GetCustomer": {
        "operationId": "get_one_customer",
        "parameters": {"customer_id": "$response.body#/customer_id"},
    },
    "FindOrder": {
        "operationId": "list_orders",
        "parameters": {
            "channel": "$response.body#/channel",
            "external_id": "$response.body#/external_id",
        },
    },
    "GetStock": {"operationId": "get_sku", "parameters": {"sku": "$response.body#/lines/0/sku"}},
    "EditOrder": {"operationId": "patch_order", "parameters": {"order_id": "$response.body#/id"}},
    "CancelOrder": {"operationId": "post_cancel", "parameters": {"order_id": "$response.body#/id"}},
}

# operationId → its OpenAPI links (on every success status), so a stateful client
# follows a created resource to where it is read.
LINKS: dict[str, dict[str, Any]] = {
    "post_order": _ORDER_LINKS,
    "get_one": _ORDER_LINKS,
    "list_orders": {
        "NextPage": {
            "operationId": "list_orders",
            "parameters": {"cursor": "$response.body#/next_cursor"},
        },
        "GetFirst": {
            "operationId": "get_one",
            "parameters": {"order_id": "$response.body#/items/0/id"},
        },
    },
    "post_shipment": {
        "GetOrder": {
            "operationId": "get_one",
            "parameters": {"order_id": "$response.body#/order_id"},
        },
    },
    "post_adjustments": {
        "GetStock": {
            "operationId": "get_sku",
            "parameters": {"sku": "$response.body#/skus/0/sku"},
        },
    },
}

# The lifecycle's responses (issue 12), named on their routes (Route.response).
_DELIVERY = {
    "type": "object",
    "required": ["destination", "status", "attempts", "generation", "published_at", "applied_at"],
    "properties": {
        "destination": STRING,
        "status": STRING,
        "attempts": INTEGER,
        "generation": INTEGER,
        "published_at": NULLABLE_STRING,
        "applied_at": NULLABLE_STRING,
        "last_error": STRING,
    },
}
TIMELINE = {
    "type": "object",
    "required": ["order_id", "entries"],
    "properties": {
        "order_id": {"type": "string", "format": "uuid"},
        "entries": {
            "type": "array",
            "items": {
                "type": "object",
                "required": [
                    "at",
                    "version",
                    "command",
                    "caller",
                    "correlation_id",
                    "status_from",
                    "status_to",
                    "detail",
                    "events",
                ],
                "properties": {
                    "at": STRING,
                    "version": INTEGER,
                    "command": STRING,
                    "caller": NULLABLE_STRING,
                    "correlation_id": NULLABLE_STRING,
                    "status_from": NULLABLE_STRING,
                    "status_to": STRING,
                    "detail": OBJECT,
                    "events": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["event_id", "event_type", "occurred_at", "deliveries"],
                            "properties": {
                                "event_id": STRING,
                                "event_type": STRING,
                                "occurred_at": STRING,
                                "deliveries": {"type": "array", "items": _DELIVERY},
                            },
                        },
                    },
                },
            },
        },
    },
}
_CUSTOMER_ORDER = {
    "type": "object",
    "required": ["id", "channel", "external_id", "status", "placed_at", "currency", "grand_total"],
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "channel": STRING,
        "external_id": STRING,
        "status": STRING,
        "placed_at": STRING,
        "currency": STRING,
        "grand_total": NULLABLE_STRING,
    },
}
CUSTOMER = {
    "type": "object",
    "required": ["id", "email", "name", "version", "order_count", "orders"],
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "email": STRING,
        "name": STRING,
        "phone": NULLABLE_STRING,
        "address": {"type": ["object", "null"]},
        "channel": STRING,
        "version": INTEGER,
        "created_at": STRING,
        "updated_at": STRING,
        "order_count": {"type": "integer", "description": "all its orders (at most 100 listed)"},
        "orders": {"type": "array", "items": _CUSTOMER_ORDER, "maxItems": 100},
    },
}
