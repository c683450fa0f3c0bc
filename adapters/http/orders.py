"""/v1/orders: channels send canonical orders and read them back (a channel has only its
own: another's is 403, domain/ownership.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web
from pydantic import TypeAdapter, ValidationError

from adapters.channels import CANONICAL
from adapters.db.ledger import deliveries_of
from adapters.db.order_queries import Page, find_orders, get_order
from adapters.http.auth import channel_scope, require
from adapters.http.context import unit_of_work
from adapters.http.cursors import decode_cursor, encode_cursor
from adapters.http.keys import CONFIG, CURSOR_KEY, ENGINE
from adapters.http.middleware import json_body
from adapters.http.params import path_id, text_param
from adapters.http.problems import ProblemError
from adapters.http.responses import json_response
from adapters.http.serialize import order_json
from adapters.http.threads import run
from domain.commands import Timestamp
from domain.orders import Order
from domain.ownership import own_order
from domain.services import place_order, retrying

MAX_IDEMPOTENCY_KEY = 255


async def post_order(request: web.Request) -> web.Response:
    who = await require(request, "channel")
    cmd = CANONICAL.normalize(json_body(request))
    key = request.headers.get("Idempotency-Key")
    if key is not None and not 0 < len(key) <= MAX_IDEMPOTENCY_KEY:
        raise ProblemError(400, "Bad Request", "Idempotency-Key must be 1 to 255 characters")
    new_uow = unit_of_work(request)

    def work() -> tuple[object, bool]:
        return retrying(lambda: place_order(new_uow(), cmd, channel=who.name, idempotency_key=key))

    order, created = await run(request, work)
    response = json_response(order_json(order), 201 if created else 200)  # type: ignore[arg-type]
    response.headers["Location"] = f"/v1/orders/{order.id}"  # type: ignore[attr-defined]
    return response


async def get_one(request: web.Request) -> web.Response:
    who = await require(request, "channel", "system")
    order_id = path_id(request, "order_id", "order")

    def read() -> Order:
        with request.app[ENGINE].connect() as conn:
            return own_order(get_order(conn, order_id, None), order_id, channel_scope(who))

    return json_response(order_json(await run(request, read)))


_TIMESTAMP: TypeAdapter[datetime] = TypeAdapter(Timestamp)


def _since(value: str) -> datetime:
    """RFC 3339 (as placed_at, and as the OpenAPI document says); also, as before, any
    ISO 8601 time Python reads, a time without a zone being UTC."""
    try:
        return _TIMESTAMP.validate_python(value)
    except ValidationError:
        pass
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ProblemError(400, "Bad Request", "updated_since must be an ISO 8601 time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


async def list_orders(request: web.Request) -> web.Response:
    who = await require(request, "channel", "system")
    q = request.query
    scope = channel_scope(who)
    channel = text_param(q["channel"], "channel") if "channel" in q else None
    external_id = text_param(q["external_id"], "external_id") if "external_id" in q else None
    if scope is not None and channel not in (None, scope):
        raise ProblemError(403, "Forbidden", "a channel can read only its own orders")
    page_size = request.app[CONFIG].page_size
    try:
        limit = min(int(q.get("limit", page_size)), 1000)
        if limit < 1:
            raise ValueError
    except ValueError:
        raise ProblemError(400, "Bad Request", "limit must be an integer from 1 to 1000") from None
    since = _since(q["updated_since"]) if "updated_since" in q else None
    key = request.app[CURSOR_KEY]
    after = decode_cursor(key, q["cursor"]) if "cursor" in q else None

    def read() -> Page:
        with request.app[ENGINE].connect() as conn:
            return find_orders(
                conn,
                channel=scope or channel,
                external_id=external_id,
                updated_since=since,
                after=after,
                limit=limit,
            )

    page = await run(request, read)
    full = len(page.orders) == limit and page.last is not None
    return json_response(
        {
            "items": [order_json(o) for o in page.orders],
            "next_cursor": encode_cursor(key, page.last) if full else None,  # type: ignore[arg-type]
        }
    )


async def get_deliveries(request: web.Request) -> web.Response:
    """The ledger of one order: per destination, each event's delivery."""
    who = await require(request, "channel", "system")
    order_id = path_id(request, "order_id", "order")

    def read() -> list[dict[str, object]]:
        with request.app[ENGINE].connect() as conn:
            own_order(get_order(conn, order_id, None), order_id, channel_scope(who))
            return deliveries_of(conn, "order", str(order_id))

    rows = await run(request, read)
    by_destination: dict[str, list[dict[str, object]]] = {}
    for row in rows:
        by_destination.setdefault(str(row.pop("destination")), []).append(row)
    return json_response({"order_id": str(order_id), "destinations": by_destination})
