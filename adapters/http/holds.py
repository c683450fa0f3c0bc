"""POST /v1/orders/{order_id}/release: a system or the operator releases a held order."""

from __future__ import annotations

from aiohttp import web

from adapters.http.auth import require
from adapters.http.context import unit_of_work
from adapters.http.keys import BODY, CALLER
from adapters.http.middleware import json_body
from adapters.http.params import path_id
from adapters.http.responses import json_response
from adapters.http.serialize import order_json
from adapters.http.threads import run
from domain.commands import ReleaseOrder
from domain.releases import release_order
from domain.services import retrying


async def post_release(request: web.Request) -> web.Response:
    await require(request, "system")
    order_id = path_id(request, "order_id", "order")
    # `{}` and no body at all are the same request: release, no reason given.
    cmd = ReleaseOrder.model_validate(json_body(request) if request.get(BODY) else {})
    new_uow = unit_of_work(request)
    caller = request[CALLER]  # "kind:name", as the change log has it
    order = await run(
        request,
        lambda: retrying(lambda: release_order(new_uow(), order_id, cmd, released_by=caller)),
    )
    return json_response(order_json(order))
