"""/v1/inventory: stock adjustments from downstream systems, and ATP per SKU."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from adapters.db.inventory_repository import read_stock
from adapters.http.auth import require
from adapters.http.context import unit_of_work
from adapters.http.jsonutil import dumps
from adapters.http.keys import ENGINE
from adapters.http.middleware import json_body
from adapters.http.params import text_param
from adapters.http.problems import ProblemError
from adapters.http.serialize import stock_json
from adapters.http.threads import run
from domain.commands import AdjustInventory, SetSafetyStock
from domain.safety_stock import set_safety_stock
from domain.services import adjust_inventory, retrying

SAFETY_SCHEMA: tuple[str, dict[str, Any]] = (
    "SafetyStock",
    {
        "type": "object",
        "required": ["channel", "location", "sku", "quantity", "sellable"],
        "properties": {
            "channel": {"type": "string"},
            "location": {"type": "string"},
            "sku": {"type": "string"},
            "quantity": {"type": "integer"},
            "sellable": {
                "type": "object",
                "description": "SKU → what the channel may sell of it now",
                "additionalProperties": {"type": "integer"},
            },
        },
    },
)


async def post_adjustments(request: web.Request) -> web.Response:
    await require(request, "system")
    cmd = AdjustInventory.model_validate(json_body(request))
    new_uow = unit_of_work(request)
    result = await run(request, lambda: retrying(lambda: adjust_inventory(new_uow(), cmd)))
    body = {"skus": [stock_json(s) for _, s in sorted(result.items())]}
    return web.Response(text=dumps(body), content_type="application/json")


async def get_sku(request: web.Request) -> web.Response:
    await require(request, "channel", "system")
    sku = text_param(request.match_info["sku"], "sku", max_length=64)

    def read() -> object:
        with request.app[ENGINE].connect() as conn:
            return read_stock(conn, [sku], lock=False).get(sku)

    stock = await run(request, read)
    if stock is None:
        raise ProblemError(404, "Not Found", f"unknown SKU {sku}")
    return web.Response(text=dumps(stock_json(stock)), content_type="application/json")  # type: ignore[arg-type]


async def put_safety_stock(request: web.Request) -> web.Response:
    """Set what a channel is never offered of a location's ATP (of one SKU, or '*')."""
    await require(request, "system")
    cmd = SetSafetyStock.model_validate(json_body(request))
    new_uow = unit_of_work(request)
    change = await run(request, lambda: retrying(lambda: set_safety_stock(new_uow(), cmd)))
    body = {
        "channel": cmd.channel,
        "location": cmd.location,
        "sku": cmd.sku,
        "quantity": cmd.quantity,
        "sellable": change.sellable,
    }
    return web.Response(text=dumps(body), content_type="application/json")
