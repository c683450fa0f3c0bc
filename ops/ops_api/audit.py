"""/ops/audit: the audit trail."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from adapters.db import audit
from adapters.http.keys import ENGINE
from adapters.http.problems import ProblemError
from adapters.http.threads import run
from ops.ops_api.common import json_response, operator, query_texts


async def list_audit(request: web.Request) -> web.Response:
    await operator(request)
    try:
        limit = int(request.query.get("limit", "100"))
    except ValueError:
        limit = 0
    if not 1 <= limit <= 10_000:
        raise ProblemError(400, "Bad Request", "limit must be an integer from 1 to 10000")
    (action,) = query_texts(request, "action") or (None,)

    def read() -> list[dict[str, Any]]:
        with request.app[ENGINE].connect() as conn:
            return audit.list_audit(conn, action=action, limit=limit)

    return json_response({"entries": await run(request, read)})
