"""GET /v1/orders/{order_id}/timeline: every change of an order, its cause, its events and
their delivery at each destination (what the dashboard draws)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from adapters.db.order_queries import get_order
from adapters.db.timeline import timeline
from adapters.http.auth import channel_scope, require
from adapters.http.keys import ENGINE
from adapters.http.params import path_id
from adapters.http.responses import json_response
from adapters.http.threads import run
from domain.ownership import own_order


async def get_timeline(request: web.Request) -> web.Response:
    who = await require(request, "channel", "system")
    order_id = path_id(request, "order_id", "order")

    def read() -> list[dict[str, Any]]:
        # One snapshot for the order, its changes and its events.
        with request.app[ENGINE].connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                own_order(get_order(conn, order_id, None), order_id, channel_scope(who))
                return timeline(conn, order_id)

    entries = await run(request, read)
    return json_response({"order_id": str(order_id), "entries": entries})
