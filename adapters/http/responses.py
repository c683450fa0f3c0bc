"""A JSON answer (problem+json is adapters/http/problems.py's)."""

from __future__ import annotations

from aiohttp import web

from adapters.http.jsonutil import dumps


def json_response(body: object, status: int = 200) -> web.Response:
    return web.Response(status=status, text=dumps(body), content_type="application/json")
