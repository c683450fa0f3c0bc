"""GET /v1/customers/{customer_id}: one customer across channels, with its orders."""

from __future__ import annotations

from aiohttp import web

from adapters.db.customer_queries import get_customer
from adapters.http.auth import require
from adapters.http.keys import ENGINE
from adapters.http.params import path_id
from adapters.http.problems import ProblemError
from adapters.http.responses import json_response
from adapters.http.threads import run


async def get_one_customer(request: web.Request) -> web.Response:
    await require(request, "system")
    customer_id = path_id(request, "customer_id", "customer")

    def read() -> object:
        with request.app[ENGINE].connect() as conn:
            return get_customer(conn, customer_id)

    customer = await run(request, read)
    if customer is None:
        raise ProblemError(404, "Not Found", "no such customer")
    return json_response(customer)
