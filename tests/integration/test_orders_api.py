"""POST and GET /v1/orders against real PostgreSQL."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from tests.factories import CONTRACT_ORDER, order_doc
from tests.integration.conftest import Keys, stock


async def test_the_contract_example_is_accepted_exactly_as_written(client: Any, keys: Keys) -> None:
    await stock(client, keys, {"sku": "TEE-M-BLK", "location": "WH-EAST", "set_on_hand": 10})
    response = await client.post("/v1/orders", json=CONTRACT_ORDER, headers=Keys.bearer(keys.web))
    body = await response.json()
    assert response.status == 201, body
    assert body["status"] == "allocated"
    assert body["version"] == 1
    assert body["totals"]["grand_total"] == "54.98"
    assert body["reservations"] == [
        {
            "id": body["reservations"][0]["id"],
            "line_no": 1,
            "sku": "TEE-M-BLK",
            "location": "WH-EAST",
            "quantity": 2,
        }
    ]
    again = await client.get(f"/v1/orders/{body['id']}", headers=Keys.bearer(keys.web))
    assert (await again.json())["external_id"] == "WEB-10001"


async def test_an_order_beyond_stock_is_accepted_and_backordered(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    await stock(client, keys, {"sku": "A", "location": "WH-EAST", "set_on_hand": 1})
    response = await client.post(
        "/v1/orders", json=order_doc("X1", [("A", 3)]), headers=Keys.bearer(keys.web)
    )
    body = await response.json()
    assert response.status == 201, body
    assert body["status"] == "partially_allocated"
    assert body["lines"][0]["allocated"] == 1 and body["lines"][0]["backordered"] == 2
    with engine.connect() as conn:
        types = (
            conn.execute(
                sa.text(
                    "SELECT event_type FROM outbox_events"
                    " WHERE aggregate_id IN (:o, 'A') ORDER BY id"
                ),
                {"o": body["id"]},
            )
            .scalars()
            .all()
        )
    # The adjustment's stock event, then the order's three and its own stock event.
    assert types == [
        "inventory.changed",
        "order.accepted",
        "order.allocated",
        "order.backordered",
        "inventory.changed",
    ]
