"""application/problem+json (RFC 9457): every error leaves the API in this shape."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from adapters.http.jsonutil import dumps

PROBLEM = "application/problem+json"


def problem(
    status: int, title: str, detail: str | None = None, *, code: str | None = None, **extra: Any
) -> web.Response:
    body: dict[str, Any] = {
        "type": f"urn:ordersync:problem:{code or _slug(title)}",
        "title": title,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    body.update(extra)
    return web.Response(status=status, text=dumps(body), content_type=PROBLEM)


def _slug(title: str) -> str:
    return "-".join(title.lower().split())


class ProblemError(Exception):
    """An HTTP-level problem raised by a handler or middleware (bad body, bad key…)."""

    def __init__(self, status: int, title: str, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or title)
        self.status, self.title, self.detail, self.extra = status, title, detail, extra

    def response(self) -> web.Response:
        return problem(self.status, self.title, self.detail, **self.extra)
