"""The trace context of a request: correlation id and W3C traceparent, onto every outbox row."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from aiohttp import web

from adapters.db.uow import SqlUnitOfWork
from adapters.http.keys import (
    CALLER,
    CHANNELS,
    CONFIG,
    CORRELATION_ID,
    ENGINE,
    HOLD_RULES,
    ROUTING,
)
from outbox.writer import TraceContext

_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
_CORRELATION = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
# The lengths of the outbox columns these values are stored in (outbox/tables.py).
MAX_REQUEST_ID = 64
MAX_TRACESTATE = 512


def trace_context(request: web.Request) -> TraceContext:
    """From the request's headers; malformed values are replaced, never trusted."""
    correlation = request.headers.get("X-Correlation-ID", "")
    if not _CORRELATION.match(correlation):
        correlation = str(uuid.uuid4())
    traceparent = request.headers.get("traceparent", "").strip().lower()
    tracestate = request.headers.get("tracestate")
    if not _TRACEPARENT.match(traceparent):
        traceparent, tracestate = "", None
    request[CORRELATION_ID] = correlation
    return TraceContext(
        correlation_id=correlation,
        causation_id=request.headers.get("X-Request-ID", "")[:MAX_REQUEST_ID] or None,
        traceparent=traceparent or None,
        tracestate=(tracestate or "")[:MAX_TRACESTATE] or None,
    )


def unit_of_work(request: web.Request) -> Callable[[], SqlUnitOfWork]:
    """A factory of units of work for this request (a retry needs a fresh one); made after
    `require`, so the change log knows who sent it."""
    app, context = request.app, trace_context(request)
    notify = app[CONFIG].outbox_notify
    caller = request.get(CALLER)
    return lambda: SqlUnitOfWork(
        app[ENGINE],
        context,
        routing=app[ROUTING],
        notify=notify,
        channels=app[CHANNELS],
        caller=caller,
        hold_rules=app[HOLD_RULES],
    )
