"""Every route, one line each; the router and /openapi.json are both built from this table."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from adapters.http import (
    customers,
    health,
    holds,
    inventory,
    money,
    money_schemas,
    order_changes,
    orders,
    pos,
    returns,
    shipments,
    timeline,
    webhooks,
)
from adapters.http.schemas import CUSTOMER, RESPONSE_SCHEMAS, TIMELINE
from domain.change_commands import CancelOrder, EditOrder
from domain.commands import (
    AdjustInventory,
    OpenReturn,
    PlaceOrder,
    ReceiveReturn,
    RecordShipment,
    ReleaseOrder,
    SetSafetyStock,
)
from domain.money_commands import RecordPayment, RecordRefund


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
    # A body read as raw bytes, not a model (a channel's own payload): its media types.
    body_types: tuple[str, ...] = ()


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
        "PATCH",
        "/v1/orders/{order_id}",
        order_changes.patch_order,
        "Edit an order before shipment: its shipping address, lower line quantities",
        "channel|system",
        EditOrder,
    ),
    Route(
        "POST",
        "/v1/orders/{order_id}/cancel",
        order_changes.post_cancel,
        "Cancel an order's unshipped units: some lines' ({} every unit left)",
        "channel|system",
        CancelOrder,
    ),
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
        "/v1/payments",
        money.post_payment,
        "Record an authorization, capture (per shipment) or void, once per transaction id",
        "channel|system",
        RecordPayment,
        201,
        response=("Payment", money_schemas.PAYMENT_SCHEMA),
        problems=(("409", "above what was authorized or invoiced, or a transaction id reused"),),
    ),
    Route(
        "POST",
        "/v1/refunds",
        money.post_refund,
        "Record a refund and its credit memo, never more than was captured",
        "channel|system",
        RecordRefund,
        201,
        response=("Refund", money_schemas.REFUND_SCHEMA),
        problems=(("409", "above what was captured or invoiced, or a transaction id reused"),),
    ),
    Route(
        "POST",
        "/v1/pos/sales",
        pos.post_sales,
        "Record completed in-store sales: each fulfilled, paid and off the store's shelf at once",
        "channel",
        pos.PosSales,
        response=pos.RESULTS_SCHEMA,
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
        "PUT",
        "/v1/inventory/safety-stock",
        inventory.put_safety_stock,
        "Set a channel's safety stock at a location (one SKU, or '*')",
        "system",
        SetSafetyStock,
        response=inventory.SAFETY_SCHEMA,
    ),
    Route(
        "POST",
        "/v1/orders/{order_id}/returns",
        returns.post_return,
        "Open a return of shipped units",
        "channel|system",
        OpenReturn,
        201,
        response=returns.RETURN_SCHEMA,
    ),
    Route(
        "POST",
        "/v1/returns/{return_id}/receipts",
        returns.post_receipt,
        "Receive a return (restock: back on hand, backorders filled; damaged: no stock)",
        "system",
        ReceiveReturn,
        201,
        response=returns.RETURN_SCHEMA,
    ),
    Route(
        "GET",
        "/v1/inventory/{sku}",
        inventory.get_sku,
        "ATP of a SKU per location",
        "channel|system",
    ),
    Route(
        "POST",
        "/v1/webhooks/{kind}",
        webhooks.post_webhook,
        "A channel's own webhook, its channel found by its header or signature: verified, "
        "stored, answered, then applied",
        ok=202,
        response=("WebhookReceipt", webhooks.RECEIPT_SCHEMA),
        problems=webhooks.DOOR_PROBLEMS,
        body_types=webhooks.BODY_TYPES,
    ),
    Route(
        "POST",
        "/v1/webhooks/{kind}/{channel}",
        webhooks.post_channel_webhook,
        "A channel's own webhook for the channel named: verified, stored, answered, then applied",
        ok=202,
        response=("WebhookReceipt", webhooks.RECEIPT_SCHEMA),
        problems=webhooks.DOOR_PROBLEMS,
        body_types=webhooks.BODY_TYPES,
    ),
    Route("GET", "/healthz", health.healthz, "Liveness"),
    Route("GET", "/readyz", health.readyz, "Readiness (the database answers)"),
)
