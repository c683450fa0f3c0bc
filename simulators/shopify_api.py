"""A fake Shopify Admin REST API per channel, at /channels/{name}/admin/api/{version}/…,
enough of it for what ordersync sends a Shopify shop and reads from it.

A test (or the demo) puts the shop's state first, POST /_sim/channels/{name}/shopify
{"orders": [Shopify order documents…], "variants": [{"sku", "inventory_item_id"}…],
"primary_location_id": N}: each order gets one open fulfillment order of its
non-gift-card line items (as Shopify makes them), an order put again replaces the
document and keeps its fulfillment orders. Then:

- GET orders.json?status=&updated_at_min=&limit= — paged with a Link header (rel="next",
  and rel="previous" after the first page) whose page_info is opaque, and which, as on
  Shopify, admits no other filter but limit beside it; GET orders/{id}.json[?fields=];
  GET orders/{id}/fulfillment_orders.json; GET shop.json;
- POST graphql.json — productVariants(query: "sku:\\"…\\"") only, from the variants put;
- POST fulfillments.json ("shopify.fulfillment"), inventory_levels/set.json
  ("shopify.inventory_level"), orders/{id}/cancel.json ("shopify.order_cancel") go
  through the same pipeline as every back-end POST (endpoint.py: faults, holds, the
  Idempotency-Key, the documents at /_sim/channels/documents). A fulfillment takes the
  quantities off its fulfillment orders (more than is fulfillable is refused, 422, as
  Shopify refuses it); cancelling a cancelled order is refused (422), as on Shopify.

Reads are refused only while the channels system is down (503), like every back-end read.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from simulators.endpoint import Call, Rejected, backend_post, problem
from simulators.keys import SIM
from simulators.paging import BadQuery, iso, parse_time
from simulators.store import SystemStore

ADMIN = "/channels/{name}/admin/api/{version:\\d{4}-\\d{2}}"
DEFAULT_LIMIT = 50
MAX_LIMIT = 250
FULFILLMENT_ORDER_IDS = 6_100_000_000_000  # where the fake's own ids start
_SKU_QUERY = re.compile(r'^sku:"((?:[^"\\]|\\.)*)"$')


def _store(request: web.Request) -> SystemStore:
    return request.app[SIM].systems["channels"]


def _orders(store: SystemStore, channel: str) -> list[dict[str, Any]]:
    mine = (r for r in store.collection("shopify_orders").values() if r["channel"] == channel)
    return sorted(mine, key=lambda r: int(r["seq"]))


def _record(store: SystemStore, channel: str, order_id: Any) -> dict[str, Any] | None:
    return store.collection("shopify_orders").get(f"{channel}/{order_id}")


def _now() -> str:
    return iso(datetime.now(UTC).replace(microsecond=0))


def _fulfillment_order(store: SystemStore, order: dict[str, Any], location: int) -> dict[str, Any]:
    number = FULFILLMENT_ORDER_IDS + store.next_seq("shopify_ids")
    lines = [
        {
            "id": FULFILLMENT_ORDER_IDS + store.next_seq("shopify_ids"),
            "fulfillment_order_id": number,
            "line_item_id": item["id"],
            "variant_id": item.get("variant_id"),
            "inventory_item_id": None,
            "quantity": item["quantity"],
            "fulfillable_quantity": item["quantity"],
        }
        for item in order.get("line_items") or []
        if isinstance(item, dict) and not item.get("gift_card")
    ]
    return {
        "id": number,
        "order_id": order["id"],
        "assigned_location_id": location,
        "status": "open",
        "request_status": "unsubmitted",
        "line_items": lines,
    }


def put_shop(store: SystemStore, channel: str, body: Any) -> dict[str, Any]:
    """POST /_sim/channels/{name}/shopify: the shop's orders, variants and location
    (see the module's docstring). BadQuery if the body is bad; then nothing is stored."""
    if not isinstance(body, dict) or set(body) - {"orders", "variants", "primary_location_id"}:
        raise BadQuery('send {"orders": [...], "variants": [...], "primary_location_id": N}')
    orders, variants = body.get("orders", []), body.get("variants", [])
    location = body.get("primary_location_id", 71983808706)
    if not isinstance(orders, list) or not isinstance(variants, list) or type(location) is not int:
        raise BadQuery("orders and variants are lists, primary_location_id an integer")
    for n, order in enumerate(orders):
        items = order.get("line_items") if isinstance(order, dict) else None
        if not isinstance(items, list) or type(order.get("id")) is not int:
            raise BadQuery(f"orders[{n}]: a Shopify order with its integer id and line_items")
        if not all(isinstance(i, dict) and type(i.get("id")) is int for i in items):
            raise BadQuery(f"orders[{n}]: every line item has its integer id")
    for n, variant in enumerate(variants):
        if not isinstance(variant, dict) or not isinstance(variant.get("sku"), str):
            raise BadQuery(f"variants[{n}]: {{'sku': str, 'inventory_item_id': int}}")
        if type(variant.get("inventory_item_id")) is not int:
            raise BadQuery(f"variants[{n}]: inventory_item_id must be an integer")
    store.collection("shopify_shops")[channel] = {
        "channel": channel,
        "primary_location_id": location,
    }
    held = store.collection("shopify_orders")
    for order in orders:
        known = held.get(f"{channel}/{order['id']}")
        held[f"{channel}/{order['id']}"] = {
            "channel": channel,
            "order": order,
            "seq": store.next_seq("shopify_orders"),
            "fulfillment_orders": known["fulfillment_orders"]
            if known
            else [_fulfillment_order(store, order, location)],
        }
    for variant in variants:
        key = f"{channel}/{variant['sku']}/{variant['inventory_item_id']}"
        store.collection("shopify_variants")[key] = {"channel": channel, **variant}
    return {"channel": channel, "orders": len(orders), "variants": len(variants)}


async def put_shop_route(request: web.Request) -> web.Response:
    try:
        body = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError) as error:
        return problem(400, "Bad Request", f"malformed JSON: {error}")
    try:
        return web.json_response(put_shop(_store(request), request.match_info["name"], body))
    except BadQuery as error:
        return problem(400, "Bad Request", str(error))


def _down(store: SystemStore) -> web.Response | None:
    if store.faults.down_remaining() <= 0:
        return None
    headers = {"Retry-After": store.faults.retry_after()}
    return problem(503, "Service Unavailable", "the shop is down", headers=headers)


def _not_found() -> web.Response:
    return web.json_response({"errors": "Not Found"}, status=404)


def _token(**position: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


def _position(token: str) -> dict[str, Any]:
    try:
        position = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except ValueError:
        raise BadQuery("page_info is not valid") from None
    if not isinstance(position, dict):
        raise BadQuery("page_info is not valid")
    return position


def _wanted(order: dict[str, Any], status: str, since: datetime | None) -> bool:
    if since is not None and parse_time(str(order.get("updated_at")), "updated_at") < since:
        return False
    cancelled, closed = order.get("cancelled_at"), order.get("closed_at")
    return {
        "any": True,
        "open": cancelled is None and closed is None,
        "closed": closed is not None,
        "cancelled": cancelled is not None,
    }[status]


def _list_query(request: web.Request) -> tuple[dict[str, Any], int]:
    """(where the page starts and what it filters, its size)."""
    query = request.query
    limit = query.get("limit", str(DEFAULT_LIMIT))
    if not limit.isdigit() or not 1 <= int(limit) <= MAX_LIMIT:
        raise BadQuery(f"limit must be 1 to {MAX_LIMIT}")
    if "page_info" in query:
        if set(query) - {"page_info", "limit", "fields"}:
            raise BadQuery("page_info admits no other parameter but limit and fields")
        return _position(query["page_info"]), int(limit)
    status = query.get("status", "open")
    if status not in ("any", "open", "closed", "cancelled"):
        raise BadQuery("status must be any, open, closed or cancelled")
    since = query.get("updated_at_min")
    if since is not None:
        parse_time(since, "updated_at_min")
    return {"status": status, "since": since}, int(limit)


def _page(
    records: Iterable[dict[str, Any]], position: dict[str, Any], limit: int
) -> tuple[list[dict[str, Any]], bool, bool]:
    """(the page's records, whether there are more after it, before it)."""
    since = parse_time(position["since"], "since") if position.get("since") else None
    eligible = [r for r in records if _wanted(r["order"], str(position.get("status")), since)]
    if "before" in position:
        earlier = [r for r in eligible if r["seq"] < position["before"]]
        chunk = earlier[-limit:]
        return chunk, True, len(earlier) > limit
    later = [r for r in eligible if r["seq"] > position.get("after", 0)]
    chunk = later[:limit]
    return chunk, len(later) > limit, position.get("after", 0) > 0


async def list_orders(request: web.Request) -> web.Response:
    """GET orders.json: a page of the shop's orders, with Shopify's Link header."""
    store = _store(request)
    if (down := _down(store)) is not None:
        return down
    try:
        position, limit = _list_query(request)
        chunk, more, earlier = _page(_orders(store, request.match_info["name"]), position, limit)
    except (BadQuery, KeyError, TypeError) as error:
        return problem(400, "Bad Request", str(error))
    links = []
    base = request.url.with_query(None)
    keep = {"status": position.get("status"), "since": position.get("since")}
    if earlier and chunk:
        token = _token(before=chunk[0]["seq"], **keep)
        links.append(f'<{base.with_query(limit=limit, page_info=token)}>; rel="previous"')
    if more and chunk:
        token = _token(after=chunk[-1]["seq"], **keep)
        links.append(f'<{base.with_query(limit=limit, page_info=token)}>; rel="next"')
    headers = {"Link": ", ".join(links)} if links else None
    return web.json_response({"orders": [r["order"] for r in chunk]}, headers=headers)


async def get_order(request: web.Request) -> web.Response:
    """GET orders/{id}.json[?fields=a,b]: one order."""
    store = _store(request)
    if (down := _down(store)) is not None:
        return down
    record = _record(store, request.match_info["name"], request.match_info["id"])
    if record is None:
        return _not_found()
    order = record["order"]
    fields = [f for f in request.query.get("fields", "").split(",") if f]
    shown = {k: v for k, v in order.items() if k in fields} if fields else order
    return web.json_response({"order": shown})


async def fulfillment_orders(request: web.Request) -> web.Response:
    """GET orders/{id}/fulfillment_orders.json."""
    store = _store(request)
    if (down := _down(store)) is not None:
        return down
    record = _record(store, request.match_info["name"], request.match_info["id"])
    if record is None:
        return _not_found()
    return web.json_response({"fulfillment_orders": record["fulfillment_orders"]})


async def shop(request: web.Request) -> web.Response:
    """GET shop.json: the shop, with its primary location."""
    store = _store(request)
    if (down := _down(store)) is not None:
        return down
    name = request.match_info["name"]
    known = store.collection("shopify_shops").get(name)
    location = known["primary_location_id"] if known else 71983808706
    return web.json_response(
        {
            "shop": {
                "id": 7382910,
                "name": name,
                "myshopify_domain": f"{name}.myshopify.com",
                "primary_location_id": location,
                "currency": "USD",
            }
        }
    )


async def graphql(request: web.Request) -> web.Response:
    """POST graphql.json: productVariants by SKU (a read: no Idempotency-Key needed)."""
    store = _store(request)
    if (down := _down(store)) is not None:
        return down
    try:
        body = json.loads(await request.read())
        wanted = _SKU_QUERY.match(body["variables"]["q"])
    except (ValueError, UnicodeDecodeError, KeyError, TypeError):
        wanted = None
    if wanted is None or "productVariants" not in str(body.get("query")):
        return web.json_response({"errors": [{"message": "the fake knows productVariants only"}]})
    sku = re.sub(r"\\(.)", r"\1", wanted.group(1))
    name = request.match_info["name"]
    nodes = [
        {
            "sku": v["sku"],
            "inventoryItem": {"id": f"gid://shopify/InventoryItem/{v['inventory_item_id']}"},
        }
        for v in store.collection("shopify_variants").values()
        if v["channel"] == name and v["sku"] == sku
    ]
    return web.json_response({"data": {"productVariants": {"nodes": nodes}}})


def _int(value: Any, what: str) -> int:
    if type(value) is not int or value < 0:
        raise Rejected(f"{what}: must be a non-negative integer")
    return value


def fulfillment(call: Call) -> tuple[int, dict[str, Any]]:
    """POST fulfillments.json: fulfil quantities of fulfillment orders."""
    document = call.body.get("fulfillment")
    if not isinstance(document, dict):
        raise Rejected("fulfillment: required")
    wanted = document.get("line_items_by_fulfillment_order")
    if not isinstance(wanted, list) or not wanted:
        raise Rejected("fulfillment.line_items_by_fulfillment_order: required")
    channel = call.params["name"]
    by_id = {
        fo["id"]: (record, fo)
        for record in _orders(call.store, channel)
        for fo in record["fulfillment_orders"]
    }
    taken: dict[int, int] = {}  # fulfillment order line item id → quantity
    lines_by_id: dict[int, dict[str, Any]] = {}
    orders = set()
    for n, group in enumerate(wanted):
        wanted_id = group.get("fulfillment_order_id") if isinstance(group, dict) else None
        if type(wanted_id) is not int or wanted_id not in by_id:
            raise Rejected(f"line_items_by_fulfillment_order.{n}: no such fulfillment order")
        record, fo = by_id[wanted_id]
        if fo["status"] not in ("open", "in_progress"):
            raise Rejected(f"fulfillment order {fo['id']} is {fo['status']}")
        orders.add(record["order"]["id"])
        lines = {line["id"]: line for line in fo["line_items"]}
        items = group.get("fulfillment_order_line_items")
        for item in items if isinstance(items, list) else []:
            item_id = item.get("id") if isinstance(item, dict) else None
            line = lines.get(item_id) if type(item_id) is int else None
            if line is None:
                raise Rejected(f"fulfillment order {fo['id']} has no such line item")
            quantity = taken.get(line["id"], 0) + _int(item.get("quantity"), "quantity")
            if not 0 < quantity <= line["fulfillable_quantity"]:
                raise Rejected(f"line item {line['id']}: {quantity} is more than is fulfillable")
            taken[line["id"]], lines_by_id[line["id"]] = quantity, line
    if len(orders) != 1:
        raise Rejected("a fulfillment is of one order")
    for line_id, quantity in taken.items():  # checked all first: all or nothing
        lines_by_id[line_id]["fulfillable_quantity"] -= quantity
    for _, fo in by_id.values():
        if fo["status"] == "open" and not any(
            li["fulfillable_quantity"] for li in fo["line_items"]
        ):
            fo["status"] = "closed"
    (order_id,) = orders
    fulfilled = _record(call.store, channel, order_id)
    assert fulfilled is not None
    fulfilled["fulfillments"] = fulfilled.get("fulfillments", 0) + 1
    tracking = document.get("tracking_info")
    tracking = tracking if isinstance(tracking, dict) else {}
    reply = {
        "id": FULFILLMENT_ORDER_IDS + call.store.next_seq("shopify_ids"),
        "order_id": order_id,
        "name": f"{fulfilled['order'].get('name', '#')}.{fulfilled['fulfillments']}",
        "status": "success",
        "tracking_company": tracking.get("company"),
        "tracking_number": tracking.get("number"),
        "created_at": _now(),
    }
    return 201, {"fulfillment": reply}


def inventory_level(call: Call) -> tuple[int, dict[str, Any]]:
    """POST inventory_levels/set.json: what the shop may sell of an item at a location."""
    body = call.body
    location = _int(body.get("location_id"), "location_id")
    item = _int(body.get("inventory_item_id"), "inventory_item_id")
    available = _int(body.get("available"), "available")
    channel = call.params["name"]
    level = {
        "inventory_item_id": item,
        "location_id": location,
        "available": available,
        "updated_at": _now(),
    }
    call.store.collection("shopify_inventory")[f"{channel}/{location}/{item}"] = {
        "channel": channel,
        **level,
    }
    return 200, {"inventory_level": level}


def cancel(call: Call) -> tuple[int, dict[str, Any]]:
    """POST orders/{id}/cancel.json: the order is cancelled (once)."""
    record = _record(call.store, call.params["name"], call.params["id"])
    if record is None:
        raise Rejected("Not Found")
    order = record["order"]
    if order.get("cancelled_at"):
        raise Rejected("Order has already been cancelled")
    now = _now()
    order.update(cancelled_at=now, cancel_reason=call.body.get("reason", "other"), updated_at=now)
    for fo in record["fulfillment_orders"]:
        if fo["status"] in ("open", "in_progress"):
            fo["status"] = "cancelled"
    return 200, {"order": order}


def add_routes(app: web.Application) -> None:
    """The fake Admin API's routes, and its control route under /_sim."""
    posts = (
        ("fulfillments.json", "shopify.fulfillment", fulfillment),
        ("inventory_levels/set.json", "shopify.inventory_level", inventory_level),
        ("orders/{id:\\d+}/cancel.json", "shopify.order_cancel", cancel),
    )
    for path, doc_type, apply in posts:
        app.router.add_post(f"{ADMIN}/{path}", backend_post("channels", doc_type, apply))
    app.router.add_post(f"{ADMIN}/graphql.json", graphql)
    app.router.add_get(f"{ADMIN}/orders.json", list_orders)
    app.router.add_get(f"{ADMIN}/orders/{{id:\\d+}}.json", get_order)
    app.router.add_get(f"{ADMIN}/orders/{{id:\\d+}}/fulfillment_orders.json", fulfillment_orders)
    app.router.add_get(f"{ADMIN}/shop.json", shop)
    app.router.add_post("/_sim/channels/{name}/shopify", put_shop_route)
