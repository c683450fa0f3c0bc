"""POST /v1/shipments and GET /v1/orders/{id}/deliveries against real PostgreSQL."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from tests.factories import order_doc
from tests.integration.conftest import Keys, stock


async def placed(client: Any, keys: Keys) -> dict[str, Any]:
    await stock(client, keys, {"sku": "A", "location": "WH-EAST", "set_on_hand": 5})
    response = await client.post(
        "/v1/orders", json=order_doc("SHIP-1", [("A", 2)]), headers=Keys.bearer(keys.web)
    )
    assert response.status == 201
    return dict(await response.json())


def shipment(order_id: str, quantity: int = 2, tracking: str = "JD0001") -> dict[str, Any]:
    return {
        "order_id": order_id,
        "location": "WH-EAST",
        "carrier": "DHL",
        "tracking_number": tracking,
        "lines": [{"sku": "A", "quantity": quantity}],
    }


async def test_a_shipment_fulfils_the_order_and_is_routed_to_erp_crm_and_the_channel(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    order = await placed(client, keys)
    response = await client.post(
        "/v1/shipments", json=shipment(order["id"]), headers=Keys.bearer(keys.erp)
    )
    body = await response.json()
    assert response.status == 201, body
    again = await client.post(
        "/v1/shipments", json=shipment(order["id"]), headers=Keys.bearer(keys.erp)
    )
    assert again.status == 200 and (await again.json())["id"] == body["id"]

    current = await (
        await client.get(f"/v1/orders/{order['id']}", headers=Keys.bearer(keys.web))
    ).json()
    assert (current["status"], current["version"]) == ("fulfilled", 2)
    assert current["lines"][0]["shipped"] == 2
    inventory = await (await client.get("/v1/inventory/A", headers=Keys.bearer(keys.web))).json()
    assert inventory["locations"][0] == {
        "location": "WH-EAST",
        "on_hand": 3,
        "reserved": 0,
        "atp": 3,
    }

    ledger = await client.get(f"/v1/orders/{order['id']}/deliveries", headers=Keys.bearer(keys.web))
    destinations = (await ledger.json())["destinations"]
    assert set(destinations) == {"erp", "crm", "wms", "channel:web"}  # crm: the order only
    assert [d["event_type"] for d in destinations["erp"]] == [
        "order.accepted",
        "shipment.dispatched",
    ]
    assert [d["sequence"] for d in destinations["erp"]] == [1, 2]
    assert all(d["status"] == "pending" for rows in destinations.values() for d in rows)


async def test_shipping_more_than_reserved_is_a_409_and_changes_nothing(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    order = await placed(client, keys)
    response = await client.post(
        "/v1/shipments", json=shipment(order["id"], quantity=3), headers=Keys.bearer(keys.erp)
    )
    assert response.status == 409
    assert response.content_type == "application/problem+json"
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM shipments")).scalar_one() == 0
        assert conn.execute(sa.text("SELECT reserved FROM stock WHERE sku='A'")).scalar_one() == 2


async def test_a_channel_key_cannot_record_shipments_and_an_unknown_order_is_404(
    client: Any, keys: Keys
) -> None:
    order = await placed(client, keys)
    forbidden = await client.post(
        "/v1/shipments", json=shipment(order["id"]), headers=Keys.bearer(keys.web)
    )
    assert forbidden.status == 403
    missing = await client.post(
        "/v1/shipments",
        json=shipment("00000000-0000-4000-8000-000000000000"),
        headers=Keys.bearer(keys.erp),
    )
    assert missing.status == 404
