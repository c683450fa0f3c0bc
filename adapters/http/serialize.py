"""Domain objects → the API's JSON documents."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
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
    return {name: convert(getattr(source, name)) for name, convert in _plan(schema)}


Convert = Callable[[Any], Any]
_PLANS: dict[int, tuple[tuple[str, Convert], ...]] = {}


def _plan(schema: dict[str, Any]) -> tuple[tuple[str, Convert], ...]:
    """Each member's name and converter, worked out from the schema once (the schemas are
    module constants, so their ids are stable): every response walks it."""
    plan = _PLANS.get(id(schema))
    if plan is None:
        plan = tuple((name, _converter(member)) for name, member in schema["properties"].items())
        _PLANS[id(schema)] = plan
    return plan


def _converter(schema: dict[str, Any]) -> Convert:
    if "properties" in schema:
        # A documented object: a dataclass of ours, or JSON kept as it came (addresses).
        return lambda value: _document(value, schema) if dataclasses.is_dataclass(value) else value
    if "items" in schema:
        item = _converter(schema["items"])
        return lambda value: [item(v) for v in value] if isinstance(value, list) else value
    return _scalar


_AS_IS = frozenset({str, int, float, bool, type(None), dict, list})


def _scalar(value: Any) -> Any:
    if type(value) in _AS_IS:
        return value
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
