"""/openapi.json, generated from the route table, the pydantic models and http/schemas.py."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from adapters.http.keys import ROUTE_TABLE
from adapters.http.ratelimit import UNLIMITED_PREFIXES
from adapters.http.routes import ROUTES, Route
from adapters.http.schemas import (
    LINKS,
    PATH_PARAMETERS,
    QUERY_PARAMETERS,
    RESPONSE_SCHEMAS,
    RESPONSES,
    STRING,
)

PROBLEM_SCHEMA = {
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
}
# Answered by any route that authenticates or reads a body.
ERRORS = {
    "400": "Malformed JSON, parameter or header",
    "401": "Missing or invalid API key",
    "403": "Not allowed for this key (a channel's key: another channel's order)",
    "404": "Not found",
    "408": "The body arrived too slowly",
    "409": "Conflict (duplicate with other content, illegal transition)",
    "413": "Body too large",
    "415": "Content-Type is not application/json",
    "422": "Invalid document, unknown SKU, totals mismatch",
}
UNAVAILABLE = "The database is unavailable, or a concurrent change won; retry after Retry-After"
RETRY_AFTER = {"Retry-After": {"required": True, "schema": {"type": "integer", "minimum": 0}}}
RATE_LIMITED = (
    "Over the channel's rate limit (per API process; ORDERSYNC_CHANNEL_RATE_LIMIT or the "
    "channel's own); retry after Retry-After seconds"
)
RETRY_AFTER_SECONDS = {
    "Retry-After": {"required": True, "schema": {"type": "integer", "minimum": 1}}
}
# On every answer (adapters/http/correlation.py): the caller's X-Correlation-ID, or the one
# made at the door for a request that sent none (or a malformed one).
CORRELATION_ID = {
    "X-Correlation-ID": {
        "required": True,
        "description": "the request's correlation id: the caller's, or one made at the door",
        "schema": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,64}$"},
    }
}
PROBLEM_CONTENT = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


CALLERS = {
    "channel": "a channel's API key",
    "system": "a downstream system's API key",
    "admin": "the admin token",
}


def callers_of(auth: str) -> list[str]:
    """Who may call a route of `auth` ("channel|system"): the admin token is accepted
    wherever a system key is (adapters/http/auth.require)."""
    kinds = auth.split("|")
    return [c for c in CALLERS if c in kinds or (c == "admin" and "system" in kinds)]


def limited_path(path: str) -> bool:
    """Whether a route counts against a channel's rate limit (the webhook doors do not)."""
    return not path.startswith(UNLIMITED_PREFIXES)


def _parameters(route: Route) -> list[dict[str, Any]]:
    path = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": PATH_PARAMETERS.get(name, STRING),
        }
        for name in re.findall(r"{(\w+)}", route.path)
    ]
    return path + QUERY_PARAMETERS.get(route.handler.__name__, []) + list(route.query)


def _success(route: Route, components: dict[str, Any]) -> dict[str, Any]:
    name = route.handler.__name__
    component = RESPONSES.get(name)
    if route.response is not None:
        component, components[route.response[0]] = route.response
    schema = {"$ref": f"#/components/schemas/{component}"} if component else {}
    ok: dict[str, Any] = {"description": "OK", "content": {"application/json": {"schema": schema}}}
    if name in LINKS:
        ok["links"] = LINKS[name]
    # A repeat of a create (same document, same key) answers 200 with what was stored.
    if route.ok == 202:  # started: the work goes on after the answer (a dry run: 200)
        return {"202": {**ok, "description": "Accepted"}, "200": ok}
    return {str(route.ok): ok, "200": ok} if route.ok == 201 else {"200": ok}


def _operation(route: Route, components: dict[str, Any]) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": route.summary, "operationId": route.handler.__name__}
    if params := _parameters(route):
        op["parameters"] = params
    if route.auth:
        op["security"] = [{"bearer": []}]
        callers = callers_of(route.auth)
        op["x-callers"] = callers
        who = ", or ".join(CALLERS[c] for c in callers)
        op["description"] = f"Authorization: Bearer with {who}."
    if route.body is not None:
        schema = route.body.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(schema.pop("$defs", {}))
        components[route.body.__name__] = schema
        op["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"$ref": f"#/components/schemas/{route.body.__name__}"}
                }
            },
        }
    elif route.body_types:  # the channel's own bytes, verified before anything reads them
        op["requestBody"] = {
            "required": False,
            "description": "The channel's own payload, exactly as it signed it",
            "content": {media: {"schema": {}} for media in route.body_types},
        }
    op["responses"] = _success(route, components)
    if route.auth or route.body:
        op["responses"].update(
            {
                code: {"description": text, "content": PROBLEM_CONTENT}
                for code, text in ERRORS.items()
            }
        )
    else:  # the header check answers on every route
        op["responses"].update(
            {
                code: {"description": ERRORS[code], "content": PROBLEM_CONTENT}
                for code in ("400", "401")
            }
        )
    if "channel" in route.auth.split("|") and limited_path(route.path):
        op["responses"]["429"] = {
            "description": RATE_LIMITED,
            "headers": RETRY_AFTER_SECONDS,
            "content": PROBLEM_CONTENT,
        }
    for code, text in route.problems:
        op["responses"][code] = {"description": text, "content": PROBLEM_CONTENT}
    if route.auth or route.path == "/readyz":  # everything that asks the database
        op["responses"]["503"] = {
            "description": UNAVAILABLE,
            "headers": RETRY_AFTER if route.auth else {},
            "content": PROBLEM_CONTENT,
        }
    for response in op["responses"].values():
        response["headers"] = {**response.get("headers", {}), **CORRELATION_ID}
    return op


def spec(routes: tuple[Route, ...] = ROUTES) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every route."""
    components: dict[str, Any] = {"Problem": PROBLEM_SCHEMA, **RESPONSE_SCHEMAS}
    paths: dict[str, Any] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, components)
    paths["/openapi.json"] = {
        "get": {
            "summary": "This document",
            "operationId": "openapi_json",
            "responses": {
                "200": {
                    "description": "OK",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
        }
    }
    paths["/metrics"] = {
        "get": {
            "summary": "Prometheus metrics of this process (text exposition; no key: keep it "
            "off the public network)",
            "operationId": "metrics",
            "responses": {
                "200": {
                    "description": "OK",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }
            },
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "ordersync", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(spec(request.app[ROUTE_TABLE]))
