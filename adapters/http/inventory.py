"""/v1/inventory: stock adjustments from downstream systems, and ATP per SKU."""

from __future__ import annotations

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
from domain.commands import AdjustInventory
from domain.services import adjust_inventory, retrying


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
