"""The correlation id at the door: the caller's X-Correlation-ID (if well-formed) or a new
one, for the request's log lines, its outbox rows and its order, and on the response.

The middleware is the outermost of ours, so every answer carries the header (a problem
document too) and the one line it logs per request names the id: method, route path
(never the query, which may hold an e-mail), status and duration. That line replaces
aiohttp's access log (ops/api_process.py turns that off), so the cost per request stays one
log record.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable

from aiohttp import web

from adapters import correlation
from adapters.http.keys import CORRELATION_ID

HEADER = "X-Correlation-ID"
_CORRELATION = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")  # fits outbox_events.correlation_id
log = logging.getLogger("ordersync.http.requests")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def correlation_id_of(request: web.Request) -> str:
    """The request's correlation id: the one the middleware chose, else chosen now (a request
    that did not pass the middleware, e.g. in a unit test) by the same rule."""
    known = request.get(CORRELATION_ID)
    if known is not None:
        return known
    sent = request.headers.get(HEADER, "")
    chosen = sent if _CORRELATION.match(sent) else str(uuid.uuid4())
    request[CORRELATION_ID] = chosen
    return chosen


@web.middleware
async def correlation_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    chosen = correlation_id_of(request)
    token = correlation.begin(chosen)
    started = time.perf_counter()
    status = 500
    try:
        try:
            response = await handler(request)
        except web.HTTPException as answer:  # a redirect or an answer raised past our errors
            answer.headers[HEADER] = chosen
            status = answer.status
            raise
        response.headers[HEADER] = chosen
        status = response.status
        return response
    finally:
        if log.isEnabledFor(logging.INFO):
            log.info(
                "%s %s %d",
                request.method,
                request.path,
                status,
                extra={
                    "http_method": request.method,
                    "http_path": request.path,
                    "http_status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
        correlation.end(token)
