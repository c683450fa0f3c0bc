"""/ops/inbound: the channels' deliveries and their dead letters, as `ordersync inbound`:
list, one with its raw body (base64), headers, verification and error, and a replay
through the doors' own apply path (audited as inbound.replay)."""

from __future__ import annotations

from aiohttp import web

from adapters.db import inbound
from adapters.db.channel_tables import INBOUND_STATES
from adapters.http.keys import ENGINE
from adapters.http.problems import ProblemError
from adapters.http.threads import run
from adapters.http.webhooks import INBOX
from ops import inbound as actions
from ops.ops_api.common import json_response, operator, path_id, query_texts

MAX_LIMIT = 1000
LIST_QUERY = tuple(
    {"name": name, "in": "query", "schema": schema}
    for name, schema in (
        ("state", {"type": "string", "enum": list(INBOUND_STATES)}),
        ("channel", {"type": "string"}),
        ("before", {"type": "integer", "minimum": 1, "description": "ids below this (paging)"}),
        ("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}),
    )
)


def _int(request: web.Request, name: str, default: int | None, top: int) -> int | None:
    text = request.query.get(name)
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= top:
        raise ProblemError(400, "Bad Request", f"{name} is an integer from 1 to {top}")
    return int(text)


async def list_inbound(request: web.Request) -> web.Response:
    """Deliveries, newest first, without bodies; `before` pages on."""
    await operator(request)
    state = request.query.get("state")
    if state is not None and state not in INBOUND_STATES:
        raise ProblemError(400, "Bad Request", f"state is one of {', '.join(INBOUND_STATES)}")
    [channel] = query_texts(request, "channel") or (None,)
    before = _int(request, "before", None, 2**63 - 1)
    limit = _int(request, "limit", 100, MAX_LIMIT)

    def read() -> list[dict[str, object]]:
        with request.app[ENGINE].connect() as conn:
            return inbound.listing(
                conn, state=state, channel=channel, before=before, limit=limit or 100
            )

    rows = await run(request, read)
    return json_response({"deliveries": rows})


async def get_inbound(request: web.Request) -> web.Response:
    """One delivery as stored."""
    await operator(request)
    delivery = path_id(request, "delivery_id", "inbound delivery")

    def read() -> inbound.StoredDelivery | None:
        with request.app[ENGINE].connect() as conn:
            return inbound.get(conn, delivery)

    found = await run(request, read)
    if found is None:
        raise ProblemError(404, "Not Found", "no such inbound delivery")
    return json_response(actions.delivery_json(found))


async def replay_inbound(request: web.Request) -> web.Response:
    """Apply a parked (or still received) delivery again; its state afterwards."""
    actor = await operator(request)
    delivery = path_id(request, "delivery_id", "inbound delivery")

    def replay() -> tuple[inbound.StoredDelivery | None, str]:
        with request.app[ENGINE].connect() as conn:
            found = inbound.get(conn, delivery)
        if found is None:
            return None, ""
        outcome = actions.replay(request.app[INBOX], [delivery], actor=actor, via="http")
        return found, outcome[delivery]

    found, state = await run(request, replay)
    if found is None:
        raise ProblemError(404, "Not Found", "no such inbound delivery")
    if state == "skipped":
        raise ProblemError(
            409, "Conflict", f"delivery {delivery} is {found.state}: only parked ones are replayed"
        )
    return json_response({"delivery": delivery, "state": state})
