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


async def test_a_shipment_fulfils_the_order_and_is_routed_to_the_erp_and_the_channel_only(
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
    # The dispatch goes to the ERP and the order's channel, never to the CRM or the WMS.
    dispatched = {
        name
        for name, rows in destinations.items()
        if any(d["event_type"] == "shipment.dispatched" for d in rows)
    }
    assert dispatched == {"erp", "channel:web"}
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


def outbox(engine: sa.Engine, order_id: str) -> list[dict[str, Any]]:
    """The order's events in commit order, each with the destinations it was routed to."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT e.event_type, e.aggregate_version, e.payload,"
                " array_agg(d.destination ORDER BY d.destination) AS destinations"
                " FROM outbox_events e JOIN outbox_deliveries d USING (event_id)"
                " WHERE e.aggregate_id = :id GROUP BY e.id ORDER BY e.id"
            ),
            {"id": order_id},
        ).mappings()
        return [dict(row) for row in rows]


async def test_a_stock_count_where_a_partly_shipped_order_holds_stock_backorders_the_rest(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    """Issue 8, point 2: the count is taken (200), the order stays partially fulfilled with
    its open unit backordered, and the WMS learns its reservation is void."""
    order = await placed(client, keys)
    shipped = await client.post(
        "/v1/shipments", json=shipment(order["id"], quantity=1), headers=Keys.bearer(keys.erp)
    )
    assert shipped.status == 201, await shipped.text()

    response = await client.post(
        "/v1/inventory/adjustments",
        json={"adjustments": [{"sku": "A", "location": "WH-EAST", "set_on_hand": 0}]},
        headers=Keys.bearer(keys.erp),
    )
    assert response.status == 200, await response.text()

    current = await (
        await client.get(f"/v1/orders/{order['id']}", headers=Keys.bearer(keys.web))
    ).json()
    assert (current["status"], current["version"]) == ("partially_fulfilled", 3)
    assert current["reservations"] == []
    [line] = current["lines"]
    assert (line["shipped"], line["allocated"]) == (1, 0)
    inventory = await (await client.get("/v1/inventory/A", headers=Keys.bearer(keys.web))).json()
    assert inventory["atp"] == 0
    assert inventory["locations"][0] == {
        "location": "WH-EAST",
        "on_hand": 0,
        "reserved": 0,
        "atp": 0,
    }
    events = outbox(engine, order["id"])
    assert [(e["event_type"], e["aggregate_version"]) for e in events[-2:]] == [
        ("order.allocated", 3),
        ("order.backordered", 3),
    ]
    told, short = events[-2:]
    assert told["destinations"] == ["wms"]
    assert told["payload"]["reservations"] == []
    assert told["payload"]["status"] == "partially_fulfilled"
    assert short["payload"]["lines"] == [{"line_no": 1, "sku": "A", "quantity": 1}]


async def test_one_sku_on_two_lines_ships_as_each_line_with_its_own_value(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    """Issue 8, point 5: a mug at 10.00 and a free one; two parcels of one mug each report
    line 1 at 10.00 and line 2 at 0.00, never 20.00 for a 10.00 order."""
    await stock(client, keys, {"sku": "A", "location": "WH-EAST", "set_on_hand": 5})
    doc = order_doc("MUGS-1", [("A", 1), ("A", 1)])
    doc["lines"][1]["unit_price"] = "0.00"
    doc.pop("shipping")
    doc["totals"] = {"grand_total": "10.00"}
    doc["payment"]["amount"] = "10.00"
    response = await client.post("/v1/orders", json=doc, headers=Keys.bearer(keys.web))
    assert response.status == 201, await response.text()
    order = await response.json()
    for tracking in ("JD0001", "JD0002"):
        response = await client.post(
            "/v1/shipments",
            json=shipment(order["id"], quantity=1, tracking=tracking),
            headers=Keys.bearer(keys.erp),
        )
        assert response.status == 201, await response.text()

    dispatched = [
        e for e in outbox(engine, order["id"]) if e["event_type"] == "shipment.dispatched"
    ]
    assert all(e["destinations"] == ["channel:web", "erp"] for e in dispatched)
    reported = sorted(
        (line["line_no"], line["quantity"], e["payload"]["shipped_value"])
        for e in dispatched
        for line in e["payload"]["lines"]
    )
    assert reported == [(1, 1, "10.00"), (2, 1, "0.00")]
    with engine.connect() as conn:
        shipped = conn.execute(
            sa.text("SELECT line_no, shipped FROM order_lines WHERE order_id = :id ORDER BY 1"),
            {"id": order["id"]},
        ).all()
    assert [tuple(row) for row in shipped] == [(1, 1), (2, 1)]


async def test_a_reused_tracking_number_with_other_lines_is_a_409_naming_the_difference(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    """Issue 8, point 6: the same (order, tracking number) with the same lines is a repeat
    (200, the recorded shipment); with other lines a 409, and the second parcel is not lost
    silently."""
    order = await placed(client, keys)
    first = await client.post(
        "/v1/shipments", json=shipment(order["id"], quantity=1), headers=Keys.bearer(keys.erp)
    )
    recorded = await first.json()
    assert first.status == 201, recorded
    repeat = await client.post(
        "/v1/shipments", json=shipment(order["id"], quantity=1), headers=Keys.bearer(keys.erp)
    )
    assert repeat.status == 200 and (await repeat.json())["id"] == recorded["id"]

    other = await client.post(
        "/v1/shipments", json=shipment(order["id"], quantity=2), headers=Keys.bearer(keys.erp)
    )
    assert other.status == 409
    assert other.content_type == "application/problem+json"
    problem = await other.json()
    assert "A: 1 recorded, 2 sent" in problem["detail"]
    assert problem["shipment_id"] == recorded["id"]
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM shipments")).scalar_one() == 1
        assert conn.execute(sa.text("SELECT shipped FROM order_lines")).scalar_one() == 1
