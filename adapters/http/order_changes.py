"""PATCH /v1/orders/{id} and POST /v1/orders/{id}/cancel: customer service's changes before
shipment, by a system or the operator (any order) or a channel (its own orders only)."""

from __future__ import annotations

from aiohttp import web

from adapters.http.auth import channel_scope, require
from adapters.http.context import unit_of_work
from adapters.http.middleware import json_body
from adapters.http.params import path_id
from adapters.http.responses import json_response
from adapters.http.serialize import order_json
from adapters.http.threads import run
from domain.amendments import cancel_order, edit_order
from domain.change_commands import CancelOrder, EditOrder
from domain.services import retrying


async def patch_order(request: web.Request) -> web.Response:
    who = await require(request, "channel", "system")
    order_id = path_id(request, "order_id", "order")
    cmd = EditOrder.model_validate(json_body(request))
    new_uow = unit_of_work(request)
    order = await run(
        request,
        lambda: retrying(lambda: edit_order(new_uow(), order_id, cmd, channel=channel_scope(who))),
    )
    return json_response(order_json(order))


async def post_cancel(request: web.Request) -> web.Response:
    who = await require(request, "channel", "system")
    order_id = path_id(request, "order_id", "order")
    cmd = CancelOrder.model_validate(json_body(request))
    new_uow = unit_of_work(request)
    order = await run(
        request,
        lambda: retrying(
            lambda: cancel_order(new_uow(), order_id, cmd, channel=channel_scope(who))
        ),
    )
    return json_response(order_json(order))
