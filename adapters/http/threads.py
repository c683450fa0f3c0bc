"""The database work of a request runs on a thread pool sized like the connection pool."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web

from adapters.db.errors import DATABASE_ERRORS, convert
from adapters.http.keys import EXECUTOR

T = TypeVar("T")


async def run(request: web.Request, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`fn(*args, **kwargs)` on the request thread pool, in the request's context; database
    errors come out converted.

    Every handler's database work passes here (the API key lookup, the reads, the units of
    work), so a driver or SQLAlchemy error raised outside a unit of work still becomes
    DatabaseUnavailable (503) or PersistenceError, never a raw psycopg error (500).
    """

    def call() -> T:
        try:
            return fn(*args, **kwargs)
        except DATABASE_ERRORS as error:
            raise convert(error) from error

    loop = asyncio.get_running_loop()
    # In a copy of the request's context (run_in_executor hands none over): the thread's
    # log lines carry the request's correlation id, its database spans the request's span.
    return await loop.run_in_executor(request.app[EXECUTOR], contextvars.copy_context().run, call)
