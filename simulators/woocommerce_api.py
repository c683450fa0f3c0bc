"""A WooCommerce site's REST v3 API under a channel's root (/channels/{name}/wp-json/wc/v3),
as much of it as ordersync writes to: order updates (status, tracking meta), order notes,
refund records, the SKU lookup and products' stock (simple products and variations).

Writes go through the simulators' back-end pipeline (faults, Idempotency-Key, the
documents of /_sim/channels/documents, types wc_*). The catalogue answers every SKU with a
simple product of its own (ids from 100, in the order first asked for) unless products
are put in first (POST /_sim/channels/{name}/wc-products {"products": [{"sku", "id"?,
"type"?: "simple"|"variation", "parent_id"?}], "open": true|false}; open false: SKUs not
put in are not sold there, and the lookup finds nothing).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from simulators.endpoint import Call, Rejected, problem, validated
from simulators.keys import SIM
from simulators.store import SystemStore

ROOT = "/channels/{name}/wp-json/wc/v3"
Status = Literal["pending", "processing", "on-hold", "completed", "cancelled", "refunded", "failed"]


class _Doc(BaseModel):
    model_config = ConfigDict(extra="allow")


class Meta(_Doc):
    key: str = Field(min_length=1)
    value: Any


class OrderUpdate(_Doc):
    status: Status | None = None
    meta_data: list[Meta] = []


class Note(_Doc):
    note: str = Field(min_length=1)
    customer_note: bool = False


class RefundRecord(_Doc):
    amount: Decimal = Field(gt=0)
    reason: str = ""
    api_refund: bool = True


class StockUpdate(_Doc):
    manage_stock: bool = True
    stock_quantity: int = Field(ge=0)


def _order(call: Call) -> dict[str, Any]:
    channel, order = call.params["name"], call.params["id"]
    if not order.isdigit():
        raise Rejected(f"no order {order!r}: WooCommerce's ids are numbers")
    return call.store.collection("wc_orders").setdefault(
        f"{channel}/{order}",
        {"id": int(order), "status": "processing", "meta_data": [], "notes": [], "refunds": []},
    )


def order_update(call: Call) -> tuple[int, dict[str, Any]]:
    """PUT orders/{id}: a new status, meta appended."""
    doc = validated(OrderUpdate, call.body)
    order = _order(call)
    if doc.status is not None:
        order["status"] = doc.status
    order["meta_data"].extend(meta.model_dump() for meta in doc.meta_data)
    return 200, {"id": order["id"], "status": order["status"], "meta_data": order["meta_data"]}


def order_note(call: Call) -> tuple[int, dict[str, Any]]:
    """POST orders/{id}/notes."""
    doc = validated(Note, call.body)
    order = _order(call)
    note = {"id": call.store.next_seq("wc_notes"), **doc.model_dump()}
    order["notes"].append(note)
    return 201, note


def refund(call: Call) -> tuple[int, dict[str, Any]]:
    """POST orders/{id}/refunds: recorded only (api_refund false) — ordersync never asks the
    site to move money."""
    doc = validated(RefundRecord, call.body)
    if doc.api_refund:
        raise Rejected("api_refund: ordersync records refunds, it does not make them")
    order = _order(call)
    record = {
        "id": call.store.next_seq("wc_refunds"),
        "amount": str(doc.amount),
        "reason": doc.reason,
    }
    order["refunds"].append(record)
    return 201, record


def _catalogue(store: SystemStore, channel: str) -> dict[str, Any]:
    return store.collection("wc_catalogues").setdefault(channel, {"open": True, "products": {}})


def _product(store: SystemStore, channel: str, sku: str) -> dict[str, Any] | None:
    catalogue = _catalogue(store, channel)
    found = catalogue["products"].get(sku)
    if found is None and catalogue["open"]:
        found = catalogue["products"][sku] = {
            "id": 99 + store.next_seq(f"wc_products/{channel}"),
            "sku": sku,
            "type": "simple",
            "parent_id": 0,
            "manage_stock": False,
            "stock_quantity": None,
        }
    return found


def stock(call: Call) -> tuple[int, dict[str, Any]]:
    """PUT products/{id} or products/{parent}/variations/{id}: its stock."""
    doc = validated(StockUpdate, call.body)
    channel, wanted = call.params["name"], call.params["id"]
    parent = call.params.get("parent")
    for product in _catalogue(call.store, channel)["products"].values():
        if str(product["id"]) != wanted:
            continue
        is_variation = product["type"] == "variation"
        if (parent is not None) != is_variation or (
            parent is not None and str(product["parent_id"]) != parent
        ):
            break  # a variation is updated under its parent, a simple product on its own
        product.update(manage_stock=doc.manage_stock, stock_quantity=doc.stock_quantity)
        return 200, dict(product)
    raise Rejected(f"no product {wanted} there")


# (method, path, document type, apply): one line per write.
ROUTES = (
    ("PUT", f"{ROOT}/orders/{{id}}", "wc_order_update", order_update),
    ("POST", f"{ROOT}/orders/{{id}}/notes", "wc_order_note", order_note),
    ("POST", f"{ROOT}/orders/{{id}}/refunds", "wc_refund", refund),
    ("PUT", f"{ROOT}/products/{{id}}", "wc_product_stock", stock),
    ("PUT", f"{ROOT}/products/{{parent}}/variations/{{id}}", "wc_product_stock", stock),
)
PRODUCTS = f"{ROOT}/products"


async def products(request: web.Request) -> web.StreamResponse:
    """GET products?sku=SKU: a JSON list, as WooCommerce answers (503 while down)."""
    store = request.app[SIM].systems["channels"]
    if store.faults.down_remaining() > 0:
        return problem(
            503,
            "Service Unavailable",
            "the channels are down for maintenance",
            headers={"Retry-After": store.faults.retry_after()},
        )
    sku = request.query.get("sku", "")
    if not sku:
        return web.json_response([])
    found = _product(store, request.match_info["name"], sku)
    return web.json_response([] if found is None else [dict(found)])


class _Put(BaseModel):
    model_config = ConfigDict(extra="forbid")

    class Product(BaseModel):
        model_config = ConfigDict(extra="forbid")
        sku: str = Field(min_length=1)
        id: int | None = Field(default=None, ge=1)
        type: Literal["simple", "variation"] = "simple"
        parent_id: int = Field(default=0, ge=0)

    products: list[Product] = []
    open: bool = True


async def put_products(request: web.Request) -> web.Response:
    """POST /_sim/channels/{name}/wc-products: the site's catalogue (see the module)."""
    try:
        body = _Put.model_validate(await request.json())
    except (ValueError, ValidationError) as error:
        return problem(400, "Bad Request", str(error))
    store, channel = request.app[SIM].systems["channels"], request.match_info["name"]
    catalogue = _catalogue(store, channel)
    catalogue["open"] = body.open
    for product in body.products:
        catalogue["products"][product.sku] = {
            "id": product.id or 99 + store.next_seq(f"wc_products/{channel}"),
            "sku": product.sku,
            "type": product.type,
            "parent_id": product.parent_id,
            "manage_stock": False,
            "stock_quantity": None,
        }
    return web.json_response({"channel": channel, "products": len(catalogue["products"])})
