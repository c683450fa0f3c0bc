"""A channel reads and changes only its own orders: on every route a channel's key may
call with an order in it, channel B gets 403 for channel A's order and nothing is
written; an id that names no order is 404 for everyone; the order's own channel and the
systems get through. Routes for systems only are 403 for any channel key. A route added
later with a channel key and an order in it fails the coverage test until it is here."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from adapters.http.routes import ROUTES
from tests.db_state import every_row
from tests.factories import order_doc
from tests.integration.conftest import Keys, stock

PLACEHOLDER = "{order}"


def body_for(path: str) -> dict[str, Any] | None:
    """A valid body for each route (the refusal must be the order's owner, not the body)."""
    return {
        "PATCH /v1/orders/{order_id}": {"lines": [{"line_no": 1, "quantity": 1}]},
        "POST /v1/orders/{order_id}/cancel": {},
        "POST /v1/orders/{order_id}/returns": {
            "lines": [{"line_no": 1, "quantity": 1}],
            "reason": "too small",
        },
        "POST /v1/payments": {
            "order_id": PLACEHOLDER,
            "kind": "void",
            "transaction_id": "V-1",
            "amount": "1.00",
        },
        "POST /v1/refunds": {
            "order_id": PLACEHOLDER,
            "kind": "goodwill",
            "transaction_id": "R-1",
            "amount": "1.00",
        },
        "POST /v1/orders/{order_id}/release": {},
        "POST /v1/shipments": {
            "order_id": PLACEHOLDER,
            "location": "WH-EAST",
            "carrier": "DHL",
            "tracking_number": "T-1",
            "lines": [{"sku": "A", "quantity": 1}],
        },
    }.get(path)


# Every route a channel's key may call that names an order (in its path or its body).
CHANNEL_ORDER_ROUTES = [
    ("GET", "/v1/orders/{order_id}"),
    ("PATCH", "/v1/orders/{order_id}"),
    ("POST", "/v1/orders/{order_id}/cancel"),
    ("GET", "/v1/orders/{order_id}/deliveries"),
    ("GET", "/v1/orders/{order_id}/timeline"),
    ("POST", "/v1/orders/{order_id}/returns"),
    ("POST", "/v1/payments"),
    ("POST", "/v1/refunds"),
]
# Routes for systems only that name an order: a channel key is refused before any order.
SYSTEM_ORDER_ROUTES = [
    ("POST", "/v1/orders/{order_id}/release"),
    ("POST", "/v1/shipments"),
]


def test_every_route_a_channel_may_call_with_an_order_is_covered() -> None:
    named = {
        (r.method, r.path)
        for r in ROUTES
        if "channel" in r.auth.split("|")
        and ("{order_id}" in r.path or (r.body is not None and "order_id" in r.body.model_fields))
    }
    assert named == set(CHANNEL_ORDER_ROUTES)
    for_systems = {
        (r.method, r.path)
        for r in ROUTES
        if r.auth == "system"
        and ("{order_id}" in r.path or (r.body is not None and "order_id" in r.body.model_fields))
    }
    assert for_systems == set(SYSTEM_ORDER_ROUTES)


@pytest.fixture
async def order_of_web(client: Any, keys: Keys) -> str:
    """An order of channel web, shipped in part (so every route has something to act on)."""
    await stock(client, keys, {"sku": "A", "location": "WH-EAST", "set_on_hand": 10})
    placed = await client.post(
        "/v1/orders", json=order_doc("SCOPE-1", [("A", 2)]), headers=Keys.bearer(keys.web)
    )
    order = await placed.json()
    assert placed.status == 201, order
    shipment = {
        "order_id": order["id"],
        "location": "WH-EAST",
        "carrier": "DHL",
        "tracking_number": "T-0",
        "lines": [{"sku": "A", "quantity": 1}],
    }
    shipped = await client.post("/v1/shipments", json=shipment, headers=Keys.bearer(keys.erp))
    assert shipped.status == 201, await shipped.text()
    return str(order["id"])


async def call(client: Any, method: str, path: str, order_id: str, key: str) -> Any:
    body = body_for(f"{method} {path}")
    if body is not None:
        body = {k: (order_id if v == PLACEHOLDER else v) for k, v in body.items()}
    url = path.replace("{order_id}", order_id)
    return await client.request(method, url, json=body, headers=Keys.bearer(key))


@pytest.mark.parametrize(("method", "path"), CHANNEL_ORDER_ROUTES + SYSTEM_ORDER_ROUTES)
async def test_another_channels_order_is_403_and_nothing_is_written(
    client: Any, keys: Keys, engine: sa.Engine, order_of_web: str, method: str, path: str
) -> None:
    before = every_row(engine)

    response = await call(client, method, path, order_of_web, keys.pos)

    problem = await response.json()
    assert response.status == 403, problem
    assert response.content_type == "application/problem+json"
    assert "SCOPE-1" not in str(problem)  # nothing of the order is shown
    assert every_row(engine) == before


@pytest.mark.parametrize(("method", "path"), CHANNEL_ORDER_ROUTES)
async def test_an_id_that_names_no_order_is_404_for_a_channel_too(
    client: Any, keys: Keys, engine: sa.Engine, order_of_web: str, method: str, path: str
) -> None:
    before = every_row(engine)
    response = await call(client, method, path, str(uuid.uuid4()), keys.pos)
    assert response.status == 404, await response.text()
    assert every_row(engine) == before


@pytest.mark.parametrize(("method", "path"), CHANNEL_ORDER_ROUTES)
async def test_the_orders_own_channel_gets_through(
    client: Any, keys: Keys, order_of_web: str, method: str, path: str
) -> None:
    response = await call(client, method, path, order_of_web, keys.web)
    # Through the owner check: what the route then says of the request is its own business
    # (a void of nothing authorized is a 409, say) — never 403 or 404.
    assert response.status not in (403, 404), await response.text()


async def test_a_channel_cannot_list_another_channels_orders(
    client: Any, keys: Keys, order_of_web: str
) -> None:
    other = await client.get("/v1/orders", params={"channel": "web"}, headers=Keys.bearer(keys.pos))
    assert other.status == 403
    mine = await client.get(
        "/v1/orders", params={"external_id": "SCOPE-1"}, headers=Keys.bearer(keys.pos)
    )
    assert (mine.status, (await mine.json())["items"]) == (200, [])
