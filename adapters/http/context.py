"""The trace context of a request: correlation id and W3C traceparent, onto every outbox row."""

from __future__ import annotations

import re
from collections.abc import Callable

from aiohttp import web
from opentelemetry import trace

from adapters.db.uow import SqlUnitOfWork
from adapters.http.correlation import correlation_id_of
from adapters.http.keys import (
    CALLER,
    CHANNELS,
    CONFIG,
    ENGINE,
    HOLD_RULES,
    ROUTING,
)
from outbox.writer import TraceContext

_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
# The lengths of the outbox columns these values are stored in (outbox/tables.py).
MAX_REQUEST_ID = 64
MAX_TRACESTATE = 512


def trace_context(request: web.Request) -> TraceContext:
    """Where the request's changes come from, for their outbox rows.

    Traced (ops/telemetry.py), the stored traceparent is the api's own server span, a
    child of the caller's traceparent if it sent one: every order has a trace, and what the
    relay and the actors do later joins it. Untraced, there is no span (and none is made:
    the ingest path pays nothing), so a caller's well-formed traceparent is kept as sent;
    malformed values are dropped, never trusted.
    """
    correlation = correlation_id_of(request)
    span = trace.get_current_span().get_span_context()
    if span.is_valid:
        traceparent = f"00-{span.trace_id:032x}-{span.span_id:016x}-{span.trace_flags:02x}"
        tracestate: str | None = span.trace_state.to_header() or None
    else:
        traceparent = request.headers.get("traceparent", "").strip().lower()
        tracestate = request.headers.get("tracestate")
        if not _TRACEPARENT.match(traceparent):
            traceparent, tracestate = "", None
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
