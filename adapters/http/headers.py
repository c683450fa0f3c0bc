"""The request headers the app reads, checked once before any handler sees them.

aiohttp decodes header bytes that are not UTF-8 with surrogate escapes, so such a
value reaches the handlers as a str that cannot be encoded again: comparing a key,
hashing it or storing it then fails deep inside (a 500, or a driver error). Anyone can
send such bytes (before authentication), so they are refused at the door: 401 for
Authorization (no key we issued looks like that), 400 for the others.
"""

from __future__ import annotations

import re

from aiohttp import web

from adapters.http.problems import ProblemError

# Every header a handler or middleware reads (grep adapters/http for request.headers).
AUTHORIZATION = "Authorization"
READ_HEADERS = (
    AUTHORIZATION,
    "Content-Type",
    "Idempotency-Key",
    "X-Request-ID",
    "X-Correlation-ID",
    "traceparent",
    "tracestate",
)
# Control characters have no meaning in any of them (keys, ids, trace context), and
# some of these values are stored: NUL cannot be, the others would be garbage.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def is_clean(value: str) -> bool:
    """True if `value` came from valid UTF-8 bytes and holds no control character."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a surrogate escape: the bytes were not UTF-8
        return False
    return not _CONTROL.search(value)


def check_headers(request: web.Request) -> None:
    """Raise a 401 (Authorization) or 400 problem if a header we read is not clean text."""
    for name in READ_HEADERS:
        if all(is_clean(value) for value in request.headers.getall(name, ())):
            continue
        if name == AUTHORIZATION:
            raise ProblemError(401, "Unauthorized", "the Authorization header is not valid")
        raise ProblemError(
            400, "Bad Request", f"the {name} header must be UTF-8 text without control characters"
        )
