"""The middlewares: request bodies (size, pace, type) and errors → problem+json.

aiohttp's own `request.json()` ignores Content-Type, never times out a slow
body and answers an oversized one with plain text, so one middleware owns the
body: it checks the type, reads with a deadline and a byte limit, and hands the
handlers `request["body"]`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from adapters.db.errors import DatabaseUnavailable, PersistenceError
from adapters.http.headers import check_headers
from adapters.http.jsonutil import loads
from adapters.http.keys import BODY, CONFIG
from adapters.http.problems import ProblemError, problem
from domain.errors import (
    ConcurrencyConflict,
    Conflict,
    DomainError,
    Forbidden,
    NotFound,
    ValidationFailed,
)

log = logging.getLogger("ordersync.http")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
BODY_METHODS = {"POST", "PUT", "PATCH"}
# Doors that take a channel's own payloads: their raw bytes, whatever the Content-Type
# (WooCommerce's ping is form-encoded; the kind's verification decides what is valid); and
# the dashboard's HTML forms (ops/dashboard reads them, bounded and timed like any body).
RAW_BODY_PREFIXES = ("/v1/webhooks/", "/dashboard/")
RETRY_AFTER_S = "1"  # seconds, on every 503


@web.middleware
async def header_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse a request whose headers we read are not clean UTF-8 text (before anything)."""
    check_headers(request)
    return await handler(request)


@web.middleware
async def body_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method in BODY_METHODS and request.body_exists:
        request[BODY] = await _read_body(request)
    return await handler(request)


async def _read_body(request: web.Request) -> bytes:
    config = request.app[CONFIG]
    json_type = request.content_type == "application/json" or request.content_type.endswith("+json")
    if not json_type and not request.path.startswith(RAW_BODY_PREFIXES):
        raise ProblemError(
            415,
            "Unsupported Media Type",
            f"send Content-Type: application/json (got {request.content_type or 'none'})",
        )
    limit = config.max_body_bytes
    too_large = ProblemError(413, "Payload Too Large", f"the body is limited to {limit} bytes")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(config.body_timeout_s):
            while chunk := await request.content.readany():
                size += len(chunk)
                if size > limit:
                    raise too_large
                chunks.append(chunk)
    except TimeoutError:
        raise ProblemError(
            408, "Request Timeout", f"the body did not arrive within {config.body_timeout_s:g}s"
        ) from None
    return b"".join(chunks)


def json_body(request: web.Request) -> Any:
    """The request's JSON document (400 if missing or malformed)."""
    raw = request.get(BODY)
    if not raw:
        raise ProblemError(400, "Bad Request", "a JSON body is required")
    try:
        return loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise ProblemError(400, "Bad Request", f"malformed JSON: {error}") from None
    except RecursionError:
        raise ProblemError(400, "Bad Request", "malformed JSON: nested too deeply") from None


def _field(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(body)"


def _validation_problem(error: ValidationError) -> web.Response:
    errors = [{"field": _field(e["loc"]), "message": e["msg"]} for e in error.errors()]
    detail = f"{len(errors)} invalid field(s): " + ", ".join(e["field"] for e in errors)
    return problem(422, "Unprocessable Content", detail, code="validation-failed", errors=errors)


def _domain_problem(error: DomainError) -> web.Response:
    status = 422
    if isinstance(error, NotFound):
        status = 404
    elif isinstance(error, Forbidden):
        status = 403
    elif isinstance(error, Conflict):
        status = 409
    elif isinstance(error, ConcurrencyConflict):
        status = 503
    elif not isinstance(error, ValidationFailed):
        status = 400
    title = {403: "Forbidden", 404: "Not Found", 409: "Conflict", 503: "Service Unavailable"}.get(
        status, "Unprocessable Content"
    )
    response = problem(status, title, error.detail, code=error.code, **error.extra)
    if status == 503:
        response.headers["Retry-After"] = RETRY_AFTER_S
    return response


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ProblemError as error:
        response = error.response()
        if error.status in (408, 413):
            # The rest of the body may still be on its way (or never come): close the
            # connection rather than wait to read past it (RFC 9110 §15.5.9).
            response.force_close()
        return response
    except ValidationError as error:
        return _validation_problem(error)
    except DomainError as error:
        return _domain_problem(error)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        response = problem(
            error.status, error.reason, error.text if error.text != error.reason else None
        )
        # A 405 says which methods the route has (RFC 9110): keep aiohttp's Allow.
        if "Allow" in error.headers:
            response.headers["Allow"] = error.headers["Allow"]
        return response
    except DatabaseUnavailable as error:
        log.warning("database unavailable: %s (%r)", error, error.__cause__)
        response = problem(503, "Service Unavailable", "the database is unavailable; retry later")
        # Like the ConcurrencyConflict 503: a client (or proxy) knows when to come back.
        response.headers["Retry-After"] = RETRY_AFTER_S
        return response
    except (PersistenceError, Exception):
        incident = str(uuid.uuid4())
        # The stack trace goes to our log, never to the caller.
        log.exception("unhandled error, incident %s, %s %s", incident, request.method, request.path)
        return problem(500, "Internal Server Error", "an unexpected error", incident=incident)
