"""/openapi.json says who may call each route, and the governance problems a channel's
key can meet: 403 (another channel's order) everywhere, 429 with Retry-After on every
route it calls but the webhook doors."""

from __future__ import annotations

from adapters.http.openapi import spec
from adapters.http.routes import ROUTES, Route

SPEC = spec(ROUTES)
DOORS = [r for r in ROUTES if r.path.startswith("/v1/webhooks/")]


def operations() -> list[tuple[Route, dict[str, object]]]:
    return [(r, SPEC["paths"][r.path][r.method.lower()]) for r in ROUTES]


def test_the_webhook_doors_are_never_answered_429() -> None:
    assert len(DOORS) == 2
    for door in DOORS:
        assert "429" not in SPEC["paths"][door.path]["post"]["responses"]


def test_every_route_a_channel_key_calls_documents_429_with_retry_after() -> None:
    channel_routes = [op for r, op in operations() if "channel" in r.auth.split("|")]
    assert len(channel_routes) >= 10
    for op in channel_routes:
        responses = op["responses"]
        assert isinstance(responses, dict)
        limited = responses["429"]
        assert limited["headers"]["Retry-After"]["schema"] == {"type": "integer", "minimum": 1}
        assert limited["content"]["application/problem+json"]
        assert "403" in responses


def test_no_route_without_a_channel_key_documents_429() -> None:
    for route, op in operations():
        if "channel" not in route.auth.split("|"):
            assert "429" not in op["responses"], route.path  # type: ignore[operator]


def test_every_authenticated_route_names_who_may_call_it() -> None:
    for route, op in operations():
        if not route.auth:
            assert "x-callers" not in op
            continue
        callers = op["x-callers"]
        assert isinstance(callers, list)
        assert set(route.auth.split("|")) <= set(callers), route.path
        assert ("admin" in callers) == ("system" in callers or "admin" in route.auth)
        assert str(op["description"]).startswith("Authorization: Bearer with ")
