"""Domain objects → the API's JSON documents."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from adapters.http.schemas import RESPONSE_SCHEMAS
from domain import field_code
from domain.orders import Order
from domain.ports import SkuStock


def order_json(order: Order) -> dict[str, Any]:
    """The API's document of an order: its published schema, filled from the order."""
    return _writer(RESPONSE_SCHEMAS["Order"], type(order))(order)


Writer = Callable[[Any], dict[str, Any]]
_WRITERS: dict[tuple[int, type], Writer] = {}


def _writer(schema: dict[str, Any], cls: type) -> Writer:
    """The members `schema` documents, each the attribute of that name of a `cls`, in the
    schema's order: what the API shows is declared once, in its published schema (a unit
    test holds it to the model's fields). Compiled once per schema (a module constant, so
    its id is stable) and class."""
    writer = _WRITERS.get((id(schema), cls))
    if writer is None:
        writer = _WRITERS[(id(schema), cls)] = _compile(schema, cls)
    return writer


def _compile(schema: dict[str, Any], cls: type) -> Writer:
    hints, namespace = field_code.hints(cls), dict[str, Any]()
    members = []
    for name, member in schema["properties"].items():
        nested_schema = member.get("items", member)

        def nested(item: type, nested_schema: dict[str, Any] = nested_schema) -> Writer | None:
            # A documented object is one of our records; anything else is JSON kept as
            # it came (addresses, totals).
            return _writer(nested_schema, item) if "properties" in nested_schema else None

        hint = hints.get(name, Any)
        value = field_code.expression(f"o.{name}", hint, namespace, nested, dates_as_text=True)
        members.append(f"{name!r}: {value}")
    body = "{" + ", ".join(members) + "}"
    return field_code.compile_function(f"write_{cls.__name__}", "o", body, namespace)


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
