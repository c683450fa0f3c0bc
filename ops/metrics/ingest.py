"""The doors' metrics: orders received by channel and outcome, how long each ingest took,
the webhook duplicates the inbox absorbed, payments refused as mismatched, and the
order-acknowledgment objective.

One aiohttp middleware, outermost (it sees the status the client got), measures the
ingest routes and nothing else: per request a dict lookup, a clock read and a labelled
increment — no database, no parsing of the response. Labels are bounded: the channel
(the registered channels), the door, the channel kind, the outcome.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import Counter, Histogram

from adapters.channels import CHANNELS
from adapters.http.keys import CALLER, DOOR_OUTCOME
from ops.metrics.slo import ACKNOWLEDGMENT

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

ORDERS_RECEIVED = Counter(
    "ordersync_orders_received",
    "Canonical orders received (POST /v1/orders), by channel and outcome: created, "
    "duplicate (the same order again), rejected (invalid), unauthorized, throttled, error",
    ["channel", "outcome"],
)
WEBHOOKS_RECEIVED = Counter(
    "ordersync_webhooks_received",
    "Deliveries at the channels' webhook doors, by kind and outcome: received, parked, "
    "duplicate, ping, unauthorized, rejected, error",
    ["kind", "outcome"],
)
WEBHOOK_DUPLICATES = Counter(
    "ordersync_webhook_duplicates",
    "Webhook deliveries the inbox had already (a channel's redelivery), answered and dropped",
    ["kind", "channel"],
)
PAYMENT_MISMATCHES = Counter(
    "ordersync_payment_mismatches",
    "Payments and refunds refused (409): above what was authorized, captured or invoiced, "
    "or a transaction id reused for other content",
    ["kind"],
)
INGEST_SECONDS = Histogram(
    "ordersync_ingest_duration",
    "Seconds from a channel's request to the answer, per door (orders, pos, webhook)",
    ["door"],
    unit="seconds",
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

# (method, route template) → the door it is; every other route passes untouched.
DOORS = {
    ("POST", "/v1/orders"): "orders",
    ("POST", "/v1/pos/sales"): "pos",
    ("POST", "/v1/webhooks/{kind}"): "webhook",
    ("POST", "/v1/webhooks/{kind}/{channel}"): "webhook",
    ("POST", "/v1/payments"): "payment",
    ("POST", "/v1/refunds"): "refund",
}
TIMED = frozenset({"orders", "pos", "webhook"})


def order_outcome(status: int) -> str:
    """What POST /v1/orders made of a request, by its status."""
    if status == 201:
        return "created"
    if status == 200:
        return "duplicate"  # the same order again (idempotency key, or the same content)
    if status in (401, 403):
        return "unauthorized"
    if status == 429:
        return "throttled"
    return "error" if status >= 500 else "rejected"


def _channel(request: web.Request) -> str:
    caller: str | None = request.get(CALLER)
    if caller is None or not caller.startswith("channel:"):
        return "unknown"  # refused before its key was read: no channel to name
    return caller[len("channel:") :]


def _door(request: web.Request) -> str | None:
    resource = request.match_info.route.resource
    if resource is None:
        return None
    return DOORS.get((request.method, resource.canonical))


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    door = _door(request)
    if door is None:
        return await handler(request)
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as http_error:
        status = http_error.status
        raise
    finally:
        _count(request, door, status, time.perf_counter() - started)


def _count(request: web.Request, door: str, status: int, seconds: float) -> None:
    if door in TIMED:
        INGEST_SECONDS.labels(door).observe(seconds)
    if door == "orders":
        channel = _channel(request)
        ORDERS_RECEIVED.labels(channel, order_outcome(status)).inc()
        if status == 201:
            ACKNOWLEDGMENT.labels(channel).observe(seconds)
    elif door == "webhook":
        kind = request.match_info.get("kind", "")
        kind = kind if kind in CHANNELS else "unknown"  # the path is the caller's: bounded
        outcome = request.get(DOOR_OUTCOME) or _refused(status)
        WEBHOOKS_RECEIVED.labels(kind, outcome).inc()
        if outcome == "duplicate":
            WEBHOOK_DUPLICATES.labels(kind, _channel(request)).inc()
    elif door in ("payment", "refund") and status == 409:
        PAYMENT_MISMATCHES.labels(door).inc()


def _refused(status: int) -> str:
    if status in (401, 403):
        return "unauthorized"
    return "error" if status >= 500 else "rejected"
