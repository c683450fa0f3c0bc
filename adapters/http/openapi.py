"""/openapi.json, generated from the route table and the pydantic models."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from adapters.http.routes import ROUTES, Route

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
ERRORS = {
    "400": "Malformed JSON or parameter",
    "401": "Missing or invalid API key",
    "403": "Not allowed for this key",
    "404": "Not found",
    "408": "The body arrived too slowly",
    "409": "Conflict (duplicate with other content, illegal transition)",
    "413": "Body too large",
    "415": "Content-Type is not application/json",
    "422": "Invalid document, unknown SKU, totals mismatch",
}


def _operation(route: Route, components: dict[str, Any]) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": route.summary, "operationId": route.handler.__name__}
    params = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"{(\w+)}", route.path)
    ]
    if params:
        op["parameters"] = params
    if route.auth:
        op["security"] = [{"bearer": []}]
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
    problem_content = {
        "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
    }
    op["responses"] = {str(route.ok): {"description": "OK", "content": {"application/json": {}}}}
    if route.auth or route.body:
        op["responses"].update(
            {
                code: {"description": text, "content": problem_content}
                for code, text in ERRORS.items()
            }
        )
    return op


def spec() -> dict[str, Any]:
    components: dict[str, Any] = {"Problem": PROBLEM_SCHEMA}
    paths: dict[str, Any] = {}
    for route in ROUTES:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, components)
    paths["/openapi.json"] = {
        "get": {"summary": "This document", "responses": {"200": {"description": "OK"}}}
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
    return web.json_response(spec())
