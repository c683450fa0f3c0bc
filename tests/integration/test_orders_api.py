"""POST and GET /v1/orders against real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from tests.factories import CONTRACT_ORDER, order_doc
from tests.integration.conftest import Keys, stock


async def test_the_contract_example_is_accepted_exactly_as_written(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    await stock(client, keys, {"sku": "TEE-M-BLK", "location": "WH-EAST", "set_on_hand": 10})
    response = await client.post("/v1/orders", json=CONTRACT_ORDER, headers=Keys.bearer(keys.web))
    body = await response.json()
    assert response.status == 201, body
    assert body["status"] == "allocated"
    assert body["version"] == 1
    assert body["channel"] == "web"
    # Every field the channel wrote comes back as written.
    for field in (
        "external_id",
        "currency",
        "customer",
        "shipping_address",
        "billing_address",
        "shipping",
        "payment",
    ):
        assert body[field] == CONTRACT_ORDER[field], field
    assert datetime.fromisoformat(body["placed_at"]) == datetime(2026, 11, 26, 10, tzinfo=UTC)
    [line] = body["lines"]
    assert {k: line[k] for k in CONTRACT_ORDER["lines"][0]} == CONTRACT_ORDER["lines"][0]
    assert (line["line_no"], line["total"], line["allocated"], line["backordered"]) == (
        1,
        "48.95",  # 2 × 19.90 + 9.15 tax
        2,
        0,
    )
    assert body["totals"] == {
        "subtotal": "39.80",
        "discount_total": "0.00",
        "tax_total": "10.28",  # 9.15 + 1.13 on shipping
        "shipping_total": "4.90",
        "grand_total": "54.98",
    }
    with engine.connect() as conn:
        reservation_id = conn.execute(
            sa.text("SELECT id::text FROM reservations WHERE order_id = :o"), {"o": body["id"]}
        ).scalar_one()
    assert body["reservations"] == [
        {
            "id": reservation_id,
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
