"""A fake Square seller API, under a Square channel's --api-url (/channels/{name}): the
Orders, Catalog and Inventory calls ordersync makes, in Square's shapes.

- GET  v2/orders/{order_id}: RetrieveOrder, {"order": …}, of the orders a test put in
  (POST /_sim/channels/{name}/square/orders {"orders": [Square order objects]}); 404 in
  Square's error shape for any other;
- POST v2/catalog/batch-retrieve {"object_ids"}: the catalog objects of those ids that
  were put in (POST /_sim/channels/{name}/square/catalog {"objects": [catalog objects]});
- POST v2/catalog/search: SearchCatalogObjects, the ITEM_VARIATIONs whose SKU is exactly
  the query's (exact_query on "sku");
- POST v2/inventory/changes/batch-create: BatchChangeInventory. Square takes the
  idempotency key in the body (`idempotency_key`): the same key and body again replay the
  first answer and are counted as a duplicate, the key with another body is refused
  (400, IDEMPOTENCY_KEY_REUSED). Each accepted request is recorded as a document of type
  "square.inventory_change"; the counts it set are in GET /_sim/channels/state
  (collection "square_counts").

Every call needs `Authorization: Bearer <token>` (401 otherwise, as Square answers). The
channel store's faults apply to batch-create (it is the write); reads are refused only
while the channels are down.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from simulators.endpoint import admit
from simulators.keys import SIM
from simulators.store import IdempotencyMismatch, SystemStore, fingerprint

DOC_TYPE = "square.inventory_change"
MAX_PUT = 1000


def _errors(status: int, category: str, code: str, detail: str) -> web.Response:
    body = {"errors": [{"category": category, "code": code, "detail": detail}]}
    return web.json_response(body, status=status)


def _store(request: web.Request) -> SystemStore:
    return request.app[SIM].systems["channels"]


def _refused(request: web.Request) -> web.Response | None:
    """Square's 401 without a bearer token; 503 while the channels are down."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return _errors(
            401, "AUTHENTICATION_ERROR", "UNAUTHORIZED", "This request could not be authorized."
        )
    if _store(request).faults.down_remaining() > 0:
        return _errors(503, "API_ERROR", "SERVICE_UNAVAILABLE", "Square is down (a fault).")
    return None


async def _json(request: web.Request) -> dict[str, Any] | web.Response:
    try:
        body = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError, RecursionError) as error:
        return _errors(
            400, "INVALID_REQUEST_ERROR", "INVALID_CONTENT_TYPE", f"malformed JSON: {error}"
        )
    if not isinstance(body, dict):
        return _errors(
            400, "INVALID_REQUEST_ERROR", "EXPECTED_OBJECT", "the body must be an object"
        )
    return body


def _key(channel: str, object_id: str) -> str:
    return f"{channel}/{object_id}"


async def retrieve_order(request: web.Request) -> web.Response:
    if (refused := _refused(request)) is not None:
        return refused
    channel, order_id = request.match_info["name"], request.match_info["order_id"]
    held = _store(request).collection("square_orders").get(_key(channel, order_id))
    if held is None:
        return _errors(404, "INVALID_REQUEST_ERROR", "NOT_FOUND", f"Order {order_id} not found.")
    return web.json_response({"order": held})


async def batch_retrieve(request: web.Request) -> web.Response:
    if (refused := _refused(request)) is not None:
        return refused
    body = await _json(request)
    if isinstance(body, web.Response):
        return body
    ids = body.get("object_ids")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        return _errors(400, "INVALID_REQUEST_ERROR", "INVALID_VALUE", "object_ids: a list of ids")
    catalog = _store(request).collection("square_catalog")
    channel = request.match_info["name"]
    found = [catalog[_key(channel, i)] for i in ids if _key(channel, i) in catalog]
    return web.json_response({"objects": found})


async def search_catalog(request: web.Request) -> web.Response:
    if (refused := _refused(request)) is not None:
        return refused
    body = await _json(request)
    if isinstance(body, web.Response):
        return body
    exact = (
        (body.get("query") or {}).get("exact_query")
        if isinstance(body.get("query"), dict)
        else None
    )
    if not isinstance(exact, dict) or exact.get("attribute_name") != "sku":
        return _errors(400, "INVALID_REQUEST_ERROR", "INVALID_VALUE", "only an exact_query on sku")
    wanted = exact.get("attribute_value")
    prefix = f"{request.match_info['name']}/"
    objects = [
        obj
        for key, obj in _store(request).collection("square_catalog").items()
        if key.startswith(prefix)
        and obj.get("type") == "ITEM_VARIATION"
        and (obj.get("item_variation_data") or {}).get("sku") == wanted
    ]
    return web.json_response({"objects": objects})


def _counts(store: SystemStore, channel: str, changes: Any) -> list[dict[str, Any]] | str:
    """The counts a batch sets (applied), or why it is refused (nothing applied)."""
    if not isinstance(changes, list) or not 1 <= len(changes) <= 100:
        return "changes: 1 to 100 changes"
    counts = []
    for number, change in enumerate(changes):
        count = change.get("physical_count") if isinstance(change, dict) else None
        if not isinstance(count, dict) or change.get("type") != "PHYSICAL_COUNT":
            return f"changes[{number}]: only PHYSICAL_COUNT changes are simulated"
        quantity = count.get("quantity")
        if not isinstance(quantity, str) or not quantity.isdigit():
            return f"changes[{number}].physical_count.quantity: a decimal string, at least 0"
        for name in ("catalog_object_id", "location_id", "state", "occurred_at"):
            if not isinstance(count.get(name), str) or not count[name]:
                return f"changes[{number}].physical_count.{name}: required"
        counts.append(
            {
                "catalog_object_id": count["catalog_object_id"],
                "catalog_object_type": "ITEM_VARIATION",
                "state": count["state"],
                "location_id": count["location_id"],
                "quantity": quantity,
                "calculated_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            }
        )
    held = store.collection("square_counts")
    for count in counts:
        held[f"{channel}/{count['location_id']}/{count['catalog_object_id']}"] = {
            "channel": channel,
            **count,
        }
    return counts


async def batch_change_inventory(request: web.Request) -> web.Response:
    if (refused := _refused(request)) is not None:
        return refused
    store = _store(request)
    faulted = await admit(request, request.app[SIM], store)
    if faulted is not None:
        return faulted
    body = await _json(request)
    if isinstance(body, web.Response):
        return body
    key = body.get("idempotency_key")
    if not isinstance(key, str) or not 1 <= len(key) <= 128:
        return _errors(
            400, "INVALID_REQUEST_ERROR", "MISSING_REQUIRED_PARAMETER", "idempotency_key"
        )
    channel = request.match_info["name"]
    print_ = fingerprint(request.method, request.path, body)
    try:
        answer = store.replay(key, print_)
    except IdempotencyMismatch:
        detail = f"idempotency_key {key!r} was used for another request"
        return _errors(400, "INVALID_REQUEST_ERROR", "IDEMPOTENCY_KEY_REUSED", detail)
    if answer is not None:
        return web.Response(status=answer.status, body=answer.body, content_type="application/json")
    counts = _counts(store, channel, body.get("changes"))
    if isinstance(counts, str):
        return _errors(400, "INVALID_REQUEST_ERROR", "INVALID_VALUE", counts)
    text = json.dumps({"counts": counts})
    store.record(key, print_, DOC_TYPE, channel, body, (200, text.encode()))
    return web.Response(status=200, text=text, content_type="application/json")


async def put_orders(request: web.Request) -> web.Response:
    """POST /_sim/channels/{name}/square/orders {"orders": [order objects with their id]}:
    the seller's orders, as RetrieveOrder answers them (one put again replaces it)."""
    return await _put(request, "orders", "square_orders")


async def put_catalog(request: web.Request) -> web.Response:
    """POST /_sim/channels/{name}/square/catalog {"objects": [catalog objects with their
    id]}: the seller's catalog (one put again replaces it)."""
    return await _put(request, "objects", "square_catalog")


async def _put(request: web.Request, field: str, collection: str) -> web.Response:
    body = await _json(request)
    if isinstance(body, web.Response):
        return body
    items = body.get(field)
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_PUT:
        return _errors(
            400, "INVALID_REQUEST_ERROR", "INVALID_VALUE", f"send {{{field!r}: [1 to {MAX_PUT}]}}"
        )
    if not all(isinstance(i, dict) and isinstance(i.get("id"), str) and i["id"] for i in items):
        return _errors(
            400, "INVALID_REQUEST_ERROR", "INVALID_VALUE", f"{field}: objects with their id"
        )
    channel = request.match_info["name"]
    held = _store(request).collection(collection)
    for item in items:
        held[_key(channel, item["id"])] = item
    return web.json_response({"channel": channel, "stored": len(items)})


# (method, path, handler): the back-end under /channels/{name} and its /_sim controls.
ROUTES = (
    ("GET", "/channels/{name}/v2/orders/{order_id}", retrieve_order),
    ("POST", "/channels/{name}/v2/catalog/batch-retrieve", batch_retrieve),
    ("POST", "/channels/{name}/v2/catalog/search", search_catalog),
    ("POST", "/channels/{name}/v2/inventory/changes/batch-create", batch_change_inventory),
    ("POST", "/_sim/channels/{name}/square/orders", put_orders),
    ("POST", "/_sim/channels/{name}/square/catalog", put_catalog),
)
