"""Domain objects → the API's JSON documents."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime
from enum import Enum
from typing import Any

from adapters.http.schemas import RESPONSE_SCHEMAS
from domain.money import Money
from domain.orders import Order
from domain.ports import SkuStock


def order_json(order: Order) -> dict[str, Any]:
    """The API's document of an order: its published schema, filled from the order."""
    return _document(order, RESPONSE_SCHEMAS["Order"])


def _document(source: object, schema: dict[str, Any]) -> dict[str, Any]:
    """The members `schema` documents, each the model's attribute of that name, in the
    schema's order: what the API shows is declared once, in its published schema (a unit
    test holds it to the model's fields)."""
    return {
        name: _json_value(getattr(source, name), member)
        for name, member in schema["properties"].items()
    }


def _json_value(value: Any, schema: dict[str, Any]) -> Any:
    if dataclasses.is_dataclass(value) and "properties" in schema:
        return _document(value, schema)
    if isinstance(value, list) and "items" in schema:
        return [_json_value(item, schema["items"]) for item in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Money | uuid.UUID):
        return str(value)
    return value


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
