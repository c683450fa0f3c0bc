"""The fake sales-channel back-ends (/channels/{name}): order statuses and stock figures."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from simulators.endpoint import Call, Rejected, validated


class _Doc(BaseModel):
    model_config = ConfigDict(extra="allow")


class Tracking(_Doc):
    carrier: str = Field(min_length=1)
    tracking_number: str = Field(min_length=1)


class OrderStatus(_Doc):
    order_id: str = Field(min_length=1)
    external_id: str = Field(min_length=1)
    status: Literal["acknowledged", "backordered", "shipped", "cancelled"]
    tracking: Tracking | None = None


class Stock(_Doc):
    sku: str = Field(min_length=1)
    available: int = Field(ge=0)


def order_status(call: Call) -> tuple[int, dict[str, Any]]:
    """POST /channels/{name}/order-status: the channel shows the order's latest status."""
    doc = validated(OrderStatus, call.body)
    if doc.status == "shipped" and doc.tracking is None:
        raise Rejected("tracking: required when the status is shipped")
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
