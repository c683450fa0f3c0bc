"""/v1/orders/{order_id}/returns and /v1/returns/{return_id}/receipts: a return is opened
(by the order's channel, a system or the operator) and received by the WMS."""

from __future__ import annotations

import dataclasses
from typing import Any

from aiohttp import web

from adapters.http.auth import require
from adapters.http.context import unit_of_work
from adapters.http.middleware import json_body
from adapters.http.params import path_id
from adapters.http.responses import json_response
from adapters.http.threads import run
from domain.commands import OpenReturn, ReceiveReturn
from domain.returning import open_return, receive_return
from domain.returns import Return
from domain.services import retrying

_LINE = {
    "type": "object",
    "required": ["line_no", "sku", "quantity"],
    "properties": {
        "line_no": {"type": "integer"},
        "sku": {"type": "string"},
        "quantity": {"type": "integer"},
        "disposition": {"type": "string", "enum": ["restock", "damaged"]},
    },
}
RETURN_SCHEMA: tuple[str, dict[str, Any]] = (
    "Return",
    {
        "type": "object",
        "required": ["id", "order_id", "status", "reason", "lines", "received"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "order_id": {"type": "string", "format": "uuid"},
            "status": {"type": "string", "enum": ["open", "received"]},
            "reason": {"type": "string"},
            "lines": {"type": "array", "items": _LINE},
            "location": {"type": ["string", "null"]},
            "received": {"type": ["array", "null"], "items": _LINE},
            "created_at": {"type": "string"},
            "received_at": {"type": ["string", "null"]},
        },
    },
)


def return_json(ret: Return) -> dict[str, Any]:
    return {
        "id": str(ret.id),
        "order_id": str(ret.order_id),
        "status": ret.status,
        "reason": ret.reason,
        "lines": [dataclasses.asdict(line) for line in ret.lines],
        "location": ret.location,
        "received": None
        if ret.received is None
        else [dataclasses.asdict(line) for line in ret.received],
        "created_at": ret.created_at.isoformat(),
        "received_at": ret.received_at.isoformat() if ret.received_at else None,
    }


async def post_return(request: web.Request) -> web.Response:
    who = await require(request, "channel", "system")
    order_id = path_id(request, "order_id", "order")
    cmd = OpenReturn.model_validate(json_body(request))
    channel = who.name if who.kind == "channel" else None  # a channel returns its own only
    new_uow = unit_of_work(request)
    ret = await run(
        request, lambda: retrying(lambda: open_return(new_uow(), order_id, cmd, channel=channel))
    )
    return json_response(return_json(ret), 201)


async def post_receipt(request: web.Request) -> web.Response:
    await require(request, "system")
    return_id = path_id(request, "return_id", "return")
    cmd = ReceiveReturn.model_validate(json_body(request))
    new_uow = unit_of_work(request)
    ret, created = await run(
        request, lambda: retrying(lambda: receive_return(new_uow(), return_id, cmd))
    )
    return json_response(return_json(ret), 201 if created else 200)
