"""Every text field of every command, at its limit and one past it, through HTTP and
PostgreSQL: at the limit it is stored (no column is shorter), one past it is a 422
naming the field, with nothing written.

The fields are found by walking the models (tests/text_fields.py); the builders
below only know how to make a valid request of each kind around one value.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import BaseModel

from domain.commands import AdjustInventory, PlaceOrder, RecordShipment
from tests.factories import order_doc, with_field
from tests.integration.conftest import Keys, stock
from tests.integration.test_bad_input import problem_of, snapshot
from tests.text_fields import TextField, text_fields, value_of_length

_serial = itertools.count()


def fresh(prefix: str) -> str:
    return f"{prefix}-{next(_serial)}"


Request = tuple[str, dict[str, Any], dict[str, str]]  # path, document, headers
Builder = Callable[[Any, Keys, str, str, bool], Awaitable[Request]]


async def place_order(client: Any, keys: Keys, path: str, value: str, valid: bool) -> Request:
    """An order whose field `path` is `value` (its SKU stocked first, if it is valid)."""
    sku = value if valid and path == "lines.0.sku" else fresh("SKU")
    await stock(client, keys, {"sku": sku, "location": "WH-EAST", "set_on_hand": 5})
    doc = with_field(order_doc(fresh("EXT"), [(sku, 1)]), path, value)
    return "/v1/orders", doc, Keys.bearer(keys.web)


async def adjust(client: Any, keys: Keys, path: str, value: str, valid: bool) -> Request:
    adjustment = {"sku": fresh("SKU"), "location": "WH-EAST", "set_on_hand": 1, "reason": "count"}
    doc = with_field({"adjustments": [adjustment]}, path, value)
    return "/v1/inventory/adjustments", doc, Keys.bearer(keys.erp)


async def ship(client: Any, keys: Keys, path: str, value: str, valid: bool) -> Request:
    """A shipment of an allocated order; its SKU and location made to be `value` if named."""
    sku = value if valid and path == "lines.0.sku" else fresh("SKU")
    location = value if valid and path == "location" else "WH-EAST"
    await stock(client, keys, {"sku": sku, "location": location, "set_on_hand": 1})
    response = await client.post(
        "/v1/orders", json=order_doc(fresh("EXT"), [(sku, 1)]), headers=Keys.bearer(keys.web)
    )
    order = await response.json()
    assert response.status == 201 and order["reservations"][0]["location"] == location, order
    shipment = {
        "order_id": order["id"],
        "location": location,
        "carrier": "DHL",
        "tracking_number": fresh("TRK"),
        "lines": [{"sku": sku, "quantity": 1}],
    }
    return "/v1/shipments", with_field(shipment, path, value), Keys.bearer(keys.erp)


BUILDERS: dict[type[BaseModel], Builder] = {
    PlaceOrder: place_order,
    AdjustInventory: adjust,
    RecordShipment: ship,
}
FIELDS = [(command, field) for command in BUILDERS for field in text_fields(command)]


def _state(engine: sa.Engine) -> dict[str, Any]:
    state = snapshot(engine)
    with engine.connect() as conn:
        state["shipments"] = conn.execute(sa.text("SELECT count(*) FROM shipments")).scalar_one()
    return state


@pytest.mark.parametrize("command", list(BUILDERS), ids=lambda c: c.__name__)
async def test_every_text_field_is_stored_at_its_limit_and_refused_one_past_it(
    client: Any, keys: Keys, engine: sa.Engine, command: type[BaseModel]
) -> None:
    """One test per command (one database), every field of it in turn."""
    fields: list[TextField] = [f for c, f in FIELDS if c is command]
    assert fields, command
    build = BUILDERS[command]
    for field in fields:
        value = value_of_length(field, field.max_length, tag=fresh("v"))
        path, doc, headers = await build(client, keys, field.path, value, True)
        response = await client.post(path, json=doc, headers=headers)
        assert response.status in (200, 201), (field.path, await response.text())

        too_long = value_of_length(field, field.max_length + 1, tag=fresh("v"))
        path, doc, headers = await build(client, keys, field.path, too_long, False)
        before = _state(engine)
        response = await client.post(path, json=doc, headers=headers)
        body = await problem_of(response, 422)
        assert [e["field"] for e in body["errors"]] == [field.path], (field.path, body)
        assert _state(engine) == before, field.path
