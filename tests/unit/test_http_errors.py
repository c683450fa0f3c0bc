"""The error middleware's answers that need no database: 503s say when to come back."""

from __future__ import annotations

import json

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from adapters.db.errors import DatabaseUnavailable
from adapters.http.middleware import error_middleware
from domain.errors import ConcurrencyConflict


@pytest.mark.parametrize(
    "error",
    [
        DatabaseUnavailable("the database cannot be reached: OperationalError"),
        ConcurrencyConflict(),
    ],
    ids=["database unavailable", "concurrency conflict"],
)
async def test_every_503_carries_retry_after(error: Exception) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        raise error

    response = await error_middleware(make_mocked_request("GET", "/v1/orders"), handler)
    assert isinstance(response, web.Response)
    assert response.status == 503
    assert response.content_type == "application/problem+json"
    assert int(response.headers["Retry-After"]) >= 1
    assert json.loads(response.text or "")["status"] == 503


async def test_a_503_for_an_unreachable_database_names_no_driver_detail() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        raise DatabaseUnavailable("connection to server at 10.0.0.5 failed: password for bob")

    response = await error_middleware(make_mocked_request("GET", "/v1/orders"), handler)
    assert isinstance(response, web.Response)
    assert "10.0.0.5" not in (response.text or "") and "bob" not in (response.text or "")
