"""The correlation id of the work in hand (a request, a delivery), for every log line.

The door (adapters/http/correlation.py) and the actors' middleware (actors/tracing.py) set
it; the log formatter (ops/logs.py) reads it. A context variable: each request's task and
each worker thread has its own, and a request's database work on the thread pool sees the
request's (adapters/http/threads.py runs it in a copy of the request's context).
"""

from __future__ import annotations

from contextvars import ContextVar, Token

_current: ContextVar[str | None] = ContextVar("ordersync_correlation_id", default=None)


def current() -> str | None:
    """The correlation id of the request or delivery this code runs for (None: neither)."""
    return _current.get()


def begin(correlation_id: str | None) -> Token[str | None]:
    """From now on in this context, work for `correlation_id`; `end` with the token."""
    return _current.set(correlation_id)


def end(token: Token[str | None]) -> None:
    """Back to what the context worked for before `begin`."""
    _current.reset(token)
