"""Liveness and readiness."""

from __future__ import annotations

import sqlalchemy as sa
from aiohttp import web

from adapters.http.keys import ENGINE
from adapters.http.problems import problem
from adapters.http.threads import run


async def healthz(request: web.Request) -> web.Response:
    """Liveness: the process answers (it never touches the database)."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Readiness: 200 if the database answers a query now, else 503 with Retry-After."""

    def ping() -> None:
        with request.app[ENGINE].connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    try:
        await run(request, ping)
    except Exception as error:  # any failure means "not ready", and says why
        response = problem(503, "Service Unavailable", f"database: {type(error).__name__}")
        response.headers["Retry-After"] = "1"
        return response
    return web.json_response({"status": "ready", "database": "ok"})
