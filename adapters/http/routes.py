"""Every route, one line each; the router and /openapi.json are both built from this table."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from adapters.http import customers, health, holds, inventory, orders, shipments, timeline
from adapters.http.schemas import CUSTOMER, RESPONSE_SCHEMAS, TIMELINE
from domain.commands import AdjustInventory, PlaceOrder, RecordShipment, ReleaseOrder


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    summary: str
    auth: str = ""  # who may call: "channel", "system", "channel|system", "admin", "" (anyone)
    body: type[BaseModel] | None = None
    ok: int = 200
    # For /openapi.json, where the tables of http/schemas.py (keyed by handler name) do
    # not say: the response's component (name, JSON schema) and the query parameters.
    response: tuple[str, dict[str, Any]] | None = None
    query: tuple[dict[str, Any], ...] = ()
    problems: tuple[tuple[str, str], ...] = ()  # statuses of its own: (code, meaning)


ROUTES: tuple[Route, ...] = (
    Route(
        "POST",
        "/v1/orders",
        orders.post_order,
        "Accept a canonical order",
        "channel",
        PlaceOrder,
        201,
    ),
    Route(
        "GET",
        "/v1/orders",
        orders.list_orders,
        "Find orders, or page through changes",
        "channel|system",
    ),
    Route("GET", "/v1/orders/{order_id}", orders.get_one, "One order", "channel|system"),
    Route(
        "GET",
        "/v1/orders/{order_id}/deliveries",
        orders.get_deliveries,
        "The delivery ledger of one order, per destination",
        "channel|system",
    ),
    Route(
        "GET",
        "/v1/orders/{order_id}/timeline",
        timeline.get_timeline,
        "Every change of one order: its cause, its events, their delivery per destination",
        "channel|system",
        response=("Timeline", TIMELINE),
    ),
    Route(
        "POST",
        "/v1/orders/{order_id}/release",
        holds.post_release,
        "Release a held order (the WMS is sent its allocation)",
        "system",
        ReleaseOrder,
        response=("Order", RESPONSE_SCHEMAS["Order"]),
        problems=(("409", "The order is not on hold"),),
    ),
    Route(
        "GET",
        "/v1/customers/{customer_id}",
        customers.get_one_customer,
        "One customer across channels, with its newest orders",
        "system",
        response=("Customer", CUSTOMER),
    ),
    Route(
        "POST",
        "/v1/shipments",
        shipments.post_shipment,
        "Record a shipment (consumes reservations, moves the order)",
        "system",
        RecordShipment,
        201,
    ),
    Route(
        "POST",
        "/v1/inventory/adjustments",
        inventory.post_adjustments,
        "Adjust stock",
        "system",
        AdjustInventory,
    ),
    Route(
        "GET",
        "/v1/inventory/{sku}",
        inventory.get_sku,
        "ATP of a SKU per location",
        "channel|system",
    ),
    Route("GET", "/healthz", health.healthz, "Liveness"),
    Route("GET", "/readyz", health.readyz, "Readiness (the database answers)"),
)
