"""The fake sales-channel back-ends (/channels/{name}): order statuses and stock figures
ordersync sends, and the orders the channel holds (its list endpoint, for reconciliation).

A channel's orders are put there by tests and the demo (POST /_sim/channels/{name}/orders)
as orders the channel took and whose webhook may never have reached ordersync. Their
`updated_at` has one-second resolution, as Shopify's and WooCommerce's have: orders
changed within one second tie.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from simulators.endpoint import Call, Rejected, validated
from simulators.paging import BadQuery, iso, page, page_query, parse_time
from simulators.store import SystemStore

MAX_ORDERS_PUT = 1000


class _Doc(BaseModel):
    model_config = ConfigDict(extra="allow")


class Tracking(_Doc):
    carrier: str = Field(min_length=1)
    tracking_number: str = Field(min_length=1)


class StatusLine(_Doc):
    line_no: int | None = Field(default=None, ge=1)
    sku: str = Field(min_length=1)
    quantity: int = Field(gt=0)


class OrderStatus(_Doc):
    order_id: str = Field(min_length=1)
    external_id: str = Field(min_length=1)
    status: Literal[
        "acknowledged",
        "backordered",
        "shipped",
        "cancelled",
        "partially_cancelled",
        "amended",
        "on_hold",
        "released",
    ]
    tracking: Tracking | None = None
    lines: list[StatusLine] | None = None


class ReturnLine(_Doc):
    line_no: int = Field(ge=1)
    sku: str = Field(min_length=1)
    quantity: int = Field(gt=0)
    disposition: Literal["restock", "damaged"] | None = None


class ReturnUpdate(_Doc):
    return_id: str = Field(min_length=1)
    order_id: str = Field(min_length=1)
    external_id: str = Field(min_length=1)
    status: Literal["open", "received"]
    lines: list[ReturnLine] = Field(min_length=1)


class Stock(_Doc):
    sku: str = Field(min_length=1)
    available: int = Field(ge=0)


def order_status(call: Call) -> tuple[int, dict[str, Any]]:
    """POST /channels/{name}/order-status: the channel shows the order's latest status."""
    doc = validated(OrderStatus, call.body)
    if doc.status == "shipped" and doc.tracking is None:
        raise Rejected("tracking: required when the status is shipped")
    if doc.status in ("partially_cancelled", "amended") and not doc.lines:
        raise Rejected(f"lines: required when the status is {doc.status}")
    channel = call.params["name"]
    statuses = call.store.collection("order_status")
    record = statuses.setdefault(
        f"{channel}/{doc.external_id}",
        {"channel": channel, "external_id": doc.external_id, "history": []},
    )
    record["status"] = doc.status
    record["history"].append(doc.status)
    if doc.tracking is not None:
        record.setdefault("tracking", []).append(doc.tracking.model_dump())
    return 200, {"external_id": doc.external_id, "status": doc.status}


def return_update(call: Call) -> tuple[int, dict[str, Any]]:
    """POST /channels/{name}/returns: the channel shows a return of its order, open or
    received (then every line has its disposition)."""
    doc = validated(ReturnUpdate, call.body)
    if doc.status == "received" and any(line.disposition is None for line in doc.lines):
        raise Rejected("lines: each received line has its disposition")
    channel = call.params["name"]
    call.store.collection("returns")[f"{channel}/{doc.return_id}"] = {
        "channel": channel,
        **doc.model_dump(exclude_none=True),
    }
    return 200, {"return_id": doc.return_id, "status": doc.status}


def stock(call: Call) -> tuple[int, dict[str, Any]]:
    """POST /channels/{name}/inventory: the quantity the channel may sell of a SKU."""
    doc = validated(Stock, call.body)
    channel = call.params["name"]
    call.store.collection("inventory")[f"{channel}/{doc.sku}"] = {
        "channel": channel,
        "sku": doc.sku,
        "available": doc.available,
    }
    return 200, {"sku": doc.sku, "available": doc.available}


class RefundLine(_Doc):
    line_no: int = Field(ge=1)
    sku: str = Field(min_length=1)
    quantity: int = Field(gt=0)


class Refund(_Doc):
    order_id: str = Field(min_length=1)
    external_id: str = Field(min_length=1)
    refund_id: str = Field(min_length=1)
    kind: Literal["return", "partial", "shipping", "goodwill"]
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    amount: Decimal = Field(gt=0)
    lines: list[RefundLine]


def refund(call: Call) -> tuple[int, dict[str, Any]]:
    """POST /channels/{name}/refunds: the channel shows the refund on its order."""
    doc = validated(Refund, call.body)
    if doc.kind == "return" and not doc.lines:
        raise Rejected("lines: a return's refund names its lines")
    channel = call.params["name"]
    call.store.collection("refunds")[doc.refund_id] = {
        "channel": channel,
        **doc.model_dump(mode="json"),
    }
    return 200, {"refund_ref": f"{channel}/{doc.refund_id}", "amount": str(doc.amount)}


def orders(
    store: SystemStore, params: Mapping[str, str], query: Mapping[str, str]
) -> dict[str, Any]:
    """GET /channels/{name}/orders?updated_since=ISO&cursor=C&limit=N: the channel's orders
    changed since, each the canonical order document (as POST /v1/orders takes it) with
    its updated_at."""
    channel = params["name"]
    mine = (r for r in store.collection("orders").values() if r["channel"] == channel)
    return page(
        mine,
        page_query(query, "updated_since"),
        lambda r: {"updated_at": r["updated_at"], "order": r["order"]},
    )


def put_orders(store: SystemStore, channel: str, body: Any) -> dict[str, Any]:
    """POST /_sim/channels/{name}/orders {"orders": [order…], "updated_at": ISO (optional:
    now, to the second)}: the channel holds these orders (one per external_id; an order
    put again is changed and goes to the end of the list). BadQuery if the body is bad;
    then nothing is stored."""
    if not isinstance(body, dict) or not isinstance(body.get("orders"), list):
        raise BadQuery('send {"orders": [canonical order documents…]}')
    unknown = set(body) - {"orders", "updated_at"}
    if unknown:
        raise BadQuery(f"unknown fields: {', '.join(sorted(unknown))}")
    documents = body["orders"]
    if not 1 <= len(documents) <= MAX_ORDERS_PUT:
        raise BadQuery(f"send 1 to {MAX_ORDERS_PUT} orders")
    for number, document in enumerate(documents):
        external_id = document.get("external_id") if isinstance(document, dict) else None
        if not isinstance(external_id, str) or not external_id:
            raise BadQuery(f"orders[{number}]: an order object with its external_id")
    given = body.get("updated_at")
    if given is not None and not isinstance(given, str):
        raise BadQuery("updated_at must be an ISO 8601 time")
    moment = parse_time(given, "updated_at") if given else datetime.now(UTC)
    at = iso(moment.astimezone(UTC).replace(microsecond=0))
    held = store.collection("orders")
    for document in documents:
        held[f"{channel}/{document['external_id']}"] = {
            "channel": channel,
            "external_id": document["external_id"],
            "order": document,
            "updated_at": at,
            "seq": store.next_seq("orders"),
        }
    return {"channel": channel, "stored": len(documents), "updated_at": at}
