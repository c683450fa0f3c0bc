"""PATCH /v1/orders/{id} and POST /v1/orders/{id}/cancel against real PostgreSQL: what each
writes (order, lines, reservations, stock, change log, outbox and its routing), and that a
refusal writes nothing at all."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from adapters.db.reconcile_queries import orders_by_id
from tests.factories import CONTRACT_ORDER, order_doc
from tests.integration.conftest import Keys, stock

# Everything a change of an order can write.
TABLES = (
    "orders",
    "order_lines",
    "reservations",
    "stock",
    "skus",
    "shipments",
    "order_changes",
    "outbox_events",
    "outbox_deliveries",
    "outbox_sequences",
)


def snapshot(engine: sa.Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table a change may write, in a stable order."""
    with engine.connect() as conn:
        return {
            table: sorted(
                (tuple(row) for row in conn.execute(sa.text(f"SELECT * FROM {table}"))), key=repr
            )
            for table in TABLES
        }


def scalar(engine: sa.Engine, sql: str, **params: Any) -> Any:
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar_one()


def reserved(engine: sa.Engine, sku: str, location: str = "WH-EAST") -> int:
    return int(
        scalar(
            engine, "SELECT reserved FROM stock WHERE sku = :s AND location = :l", s=sku, l=location
        )
    )


def outbox(engine: sa.Engine, order_id: str, since_version: int = 2) -> list[dict[str, Any]]:
    """The order's events from a version on, in commit order, with their destinations."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT e.event_type, e.aggregate_version, e.payload,"
                " array_agg(d.destination ORDER BY d.destination) AS destinations"
                " FROM outbox_events e JOIN outbox_deliveries d USING (event_id)"
                " WHERE e.aggregate_id = :id AND e.aggregate_version >= :v"
                " GROUP BY e.id ORDER BY e.id"
            ),
            {"id": order_id, "v": since_version},
        ).mappings()
        return [dict(row) for row in rows]


def stock_events(engine: sa.Engine, sku: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT e.payload, array_agg(d.destination ORDER BY d.destination) AS destinations"
                " FROM outbox_events e JOIN outbox_deliveries d USING (event_id)"
                " WHERE e.event_type = 'inventory.changed' AND e.aggregate_id = :sku"
                " GROUP BY e.id ORDER BY e.id"
            ),
            {"sku": sku},
        ).mappings()
        return [dict(row) for row in rows]


async def placed(client: Any, keys: Keys, lines: list[tuple[str, int]]) -> dict[str, Any]:
    await stock(
        client,
        keys,
        *({"sku": sku, "location": "WH-EAST", "set_on_hand": 10} for sku, _ in lines),
    )
    response = await client.post(
        "/v1/orders", json=order_doc("CHG-1", lines), headers=Keys.bearer(keys.web)
    )
    assert response.status == 201, await response.text()
    return dict(await response.json())


async def patch(client: Any, order_id: str, body: Any, key: str) -> tuple[int, Any]:
    response = await client.patch(f"/v1/orders/{order_id}", json=body, headers=Keys.bearer(key))
    return response.status, await response.json()


async def cancel(client: Any, order_id: str, body: Any, key: str) -> tuple[int, Any]:
    response = await client.post(
        f"/v1/orders/{order_id}/cancel", json=body, headers=Keys.bearer(key)
    )
    return response.status, await response.json()


async def test_a_new_address_goes_to_the_wms_with_the_order_allocated_again(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    order = await placed(client, keys, [("A", 2)])
    address = {**CONTRACT_ORDER["shipping_address"], "line1": "Rua Nova 9", "city": "Porto"}

    status, body = await patch(client, order["id"], {"shipping_address": address}, keys.web)

    assert status == 200, body
    assert (body["status"], body["version"]) == ("allocated", 2)
    assert body["shipping_address"]["city"] == "Porto"
    events = outbox(engine, order["id"])
    assert [(e["event_type"], e["destinations"]) for e in events] == [
        ("order.amended", ["channel:web", "erp"]),
        ("order.allocated", ["wms"]),
    ]
    assert events[1]["payload"]["shipping_address"]["line1"] == "Rua Nova 9"
    assert events[1]["payload"]["reservations"] == [
        {"line_no": 1, "sku": "A", "location": "WH-EAST", "quantity": 2}
    ]
    assert reserved(engine, "A") == 2  # the stock is as it was
    with engine.connect() as conn:
        change = conn.execute(
            sa.text(
                "SELECT command, caller, status_from, status_to, detail FROM order_changes"
                " WHERE order_id = :id AND version = 2"
            ),
            {"id": order["id"]},
        ).one()
    assert change[:4] == ("edit", "channel:web", "allocated", "allocated")
    assert change[4]["shipping_address"]["city"] == "Porto"


async def test_a_lower_quantity_releases_stock_and_a_zero_removes_the_line(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    order = await placed(client, keys, [("A", 3), ("B", 2)])
    assert (reserved(engine, "A"), reserved(engine, "B")) == (3, 2)

    status, body = await patch(
        client,
        order["id"],
        {"lines": [{"line_no": 1, "quantity": 1}, {"line_no": 2, "quantity": 0}]},
        keys.erp,
    )

    assert status == 200, body
    assert [(ln["quantity"], ln["cancelled"], ln["allocated"]) for ln in body["lines"]] == [
        (3, 2, 1),
        (2, 2, 0),
    ]
    assert [(r["sku"], r["quantity"]) for r in body["reservations"]] == [("A", 1)]
    assert body["totals"]["grand_total"] == "16.03"  # 1 × 10.00 + shipping 4.90 + 1.13
    assert (reserved(engine, "A"), reserved(engine, "B")) == (1, 0)
    assert (
        scalar(engine, "SELECT count(*) FROM reservations WHERE order_id = :id", id=order["id"])
        == 1
    )
    # The ATP rose: every channel is told.
    for sku, atp in (("A", 9), ("B", 10)):
        last = stock_events(engine, sku)[-1]
        assert last["payload"]["atp"] == atp
        assert last["destinations"] == ["channel:pos", "channel:web"]
    amended = outbox(engine, order["id"])[0]
    assert amended["event_type"] == "order.amended"
    assert [(ln["line_no"], ln["quantity"]) for ln in amended["payload"]["lines"]] == [
        (1, 1),
        (2, 0),
    ]
    assert amended["payload"]["totals"]["grand_total"] == "16.03"


async def test_cancelling_the_whole_order_tells_the_erp_the_channel_and_the_wms(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    order = await placed(client, keys, [("A", 2), ("B", 1)])

    status, body = await cancel(client, order["id"], {"reason": "fraud check"}, keys.admin)

    assert status == 200, body
    assert (body["status"], body["version"], body["reservations"]) == ("cancelled", 2, [])
    assert (reserved(engine, "A"), reserved(engine, "B")) == (0, 0)
    events = outbox(engine, order["id"])
    assert [(e["event_type"], e["destinations"]) for e in events] == [
        ("order.cancelled", ["channel:web", "erp"]),
        ("order.allocated", ["wms"]),
    ]
    notice = events[0]["payload"]
    assert (notice["whole"], notice["reason"]) == (True, "fraud check")
    assert [(ln["line_no"], ln["quantity"], ln["net"]) for ln in notice["lines"]] == [
        (1, 2, "20.00"),
        (2, 1, "10.00"),
    ]
    assert events[1]["payload"]["reservations"] == []
    again = await cancel(client, order["id"], {}, keys.admin)
    assert again[0] == 409 and "nothing left to cancel" in again[1]["detail"]


async def test_cancelling_some_lines_leaves_the_rest_allocated(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    order = await placed(client, keys, [("A", 3), ("B", 1)])

    status, body = await cancel(
        client, order["id"], {"lines": [{"line_no": 1, "quantity": 2}], "reason": "short"}, keys.web
    )

    assert status == 200, body
    assert body["status"] == "allocated"
    assert [(ln["cancelled"], ln["allocated"]) for ln in body["lines"]] == [(2, 1), (0, 1)]
    assert reserved(engine, "A") == 1
    [notice, allocated] = outbox(engine, order["id"])
    assert notice["payload"]["whole"] is False
    assert notice["payload"]["totals"]["grand_total"] == body["totals"]["grand_total"] == "26.03"
    assert [(r["sku"], r["quantity"]) for r in allocated["payload"]["reservations"]] == [
        ("A", 1),
        ("B", 1),
    ]


async def test_a_shipped_line_cannot_be_cancelled_or_edited_away_and_nothing_is_written(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    order = await placed(client, keys, [("A", 2), ("B", 1)])
    shipped = await client.post(
        "/v1/shipments",
        json={
            "order_id": order["id"],
            "location": "WH-EAST",
            "carrier": "DHL",
            "tracking_number": "T-1",
            "lines": [{"sku": "A", "quantity": 2}],
        },
        headers=Keys.bearer(keys.erp),
    )
    assert shipped.status == 201
    before = snapshot(engine)

    cancelled = await cancel(
        client, order["id"], {"lines": [{"line_no": 1, "quantity": 1}]}, keys.web
    )
    edited = await patch(client, order["id"], {"lines": [{"line_no": 1, "quantity": 1}]}, keys.web)

    assert cancelled[0] == 409, cancelled
    assert cancelled[1]["detail"] == (
        "line 1: 0 left to cancel, not 1; 2 already shipped, use a return"
    )
    assert cancelled[1]["line_no"] == 1
    assert edited[0] == 409, edited
    assert edited[1]["detail"] == "line 1: 2 already shipped; use a return"
    assert snapshot(engine) == before


@pytest.mark.parametrize(
    ("method", "body", "status", "says"),
    [
        ("patch", {}, 422, "give shipping_address, lines or both"),
        ("patch", {"lines": [{"line_no": 1, "quantity": 5}]}, 422, "5 is more than its 2"),
        ("patch", {"lines": [{"line_no": 3, "quantity": 0}]}, 422, "no line 3"),
        (
            "patch",
            {"lines": [{"line_no": 1, "quantity": 1}, {"line_no": 1, "quantity": 0}]},
            422,
            "line_no 1 is given twice",
        ),
        ("patch", {"lines": [{"line_no": 1, "quantity": -1}]}, 422, "lines.0.quantity"),
        (
            "patch",
            {"lines": [{"line_no": 1, "quantity": 0}, {"line_no": 2, "quantity": 0}]},
            409,
            "cancel it instead",
        ),
        (
            "cancel",
            {"lines": [{"line_no": 2, "quantity": 2}]},
            409,
            "line 2: 1 left to cancel, not 2",
        ),
        ("cancel", {"lines": [{"line_no": 1, "quantity": 0}]}, 422, "lines.0.quantity"),
        ("cancel", {"lines": []}, 422, "lines"),
        ("cancel", {"lines": [{"line_no": "1", "quantity": 1}]}, 422, "lines.0.line_no"),
        ("cancel", [], 422, "(body)"),
    ],
)
async def test_a_refused_change_writes_nothing(
    client: Any, keys: Keys, engine: sa.Engine, method: str, body: Any, status: int, says: str
) -> None:
    order = await placed(client, keys, [("A", 2), ("B", 1)])
    before = snapshot(engine)

    answered, problem = await (patch if method == "patch" else cancel)(
        client, order["id"], body, keys.web
    )

    assert answered == status, problem
    assert says in str(problem)
    assert snapshot(engine) == before


async def test_only_the_orders_own_channel_may_change_it(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    order = await placed(client, keys, [("A", 1)])
    before = snapshot(engine)

    other = await cancel(client, order["id"], {}, keys.pos)
    missing = await cancel(client, "00000000-0000-4000-8000-000000000000", {}, keys.admin)
    not_an_id = await patch(client, "nope", {"lines": [{"line_no": 1, "quantity": 0}]}, keys.admin)
    anonymous = await client.post(f"/v1/orders/{order['id']}/cancel", json={})

    assert (other[0], missing[0], not_an_id[0], anonymous.status) == (403, 404, 404, 401)
    assert snapshot(engine) == before


async def test_reconciliation_holds_a_cancelled_rest_as_shipped_in_full_at_its_new_total(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    """What the ERP is compared with (adapters/db/reconcile_queries.py): a part-shipped order
    whose rest is cancelled is shipped in full at its new total; a whole cancellation is
    cancelled, at the total the ERP's sales order keeps."""
    rest = await placed(client, keys, [("A", 2), ("B", 1)])
    shipped = await client.post(
        "/v1/shipments",
        json={
            "order_id": rest["id"],
            "location": "WH-EAST",
            "carrier": "DHL",
            "tracking_number": "T-R",
            "lines": [{"sku": "A", "quantity": 2}],
        },
        headers=Keys.bearer(keys.erp),
    )
    assert shipped.status == 201
    assert (await cancel(client, rest["id"], {}, keys.web))[0] == 200
    response = await client.post(
        "/v1/orders", json=order_doc("CHG-2", [("A", 1)]), headers=Keys.bearer(keys.web)
    )
    whole = await response.json()
    assert (await cancel(client, whole["id"], {}, keys.web))[0] == 200

    with engine.connect() as conn:
        found = orders_by_id(conn, "erp", [rest["id"], whole["id"]])

    assert (found[rest["id"]].fully_shipped, found[rest["id"]].cancelled) == (True, False)
    assert str(found[rest["id"]].grand_total) == "26.03"
    assert found[whole["id"]].cancelled
    assert str(found[whole["id"]].grand_total) == whole["totals"]["grand_total"] == "16.03"


async def test_stock_a_cancellation_gives_back_fills_the_oldest_backordered_order(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    await stock(client, keys, {"sku": "A", "location": "WH-EAST", "set_on_hand": 3})
    orders = []
    for hour, (external_id, quantity) in enumerate((("FIRST", 3), ("WAITS-1", 2), ("WAITS-2", 2))):
        doc = order_doc(external_id, [("A", quantity)])
        doc["placed_at"] = f"2026-11-26T1{hour}:00:00Z"  # the fill serves the oldest first
        response = await client.post("/v1/orders", json=doc, headers=Keys.bearer(keys.web))
        assert response.status == 201, await response.text()
        orders.append(dict(await response.json()))
    first, waits_1, waits_2 = orders
    assert (waits_1["status"], waits_2["status"]) == ("backordered", "backordered")

    status, body = await cancel(client, first["id"], {"reason": "changed their mind"}, keys.web)

    assert status == 200, body
    assert body["status"] == "cancelled"
    # The 3 units given back: 2 to the oldest waiting order, 1 to the next.
    assert reserved(engine, "A") == 3
    with engine.connect() as conn:
        rows = dict(
            conn.execute(
                sa.text("SELECT external_id, status FROM orders WHERE external_id LIKE 'WAITS-%'")
            ).all()
        )
        held = conn.execute(
            sa.text(
                "SELECT o.external_id, sum(r.quantity) FROM reservations r"
                " JOIN orders o ON o.id = r.order_id GROUP BY o.external_id"
            )
        ).all()
        fills = conn.execute(
            sa.text(
                "SELECT o.external_id, c.command, c.detail->>'cause' FROM order_changes c"
                " JOIN orders o ON o.id = c.order_id WHERE c.command = 'fill'"
                " ORDER BY o.external_id"
            )
        ).all()
    assert rows == {"WAITS-1": "allocated", "WAITS-2": "partially_allocated"}
    assert dict(held) == {"WAITS-1": 2, "WAITS-2": 1}
    cause = f"cancel of order {first['id']}"
    assert [tuple(f) for f in fills] == [("WAITS-1", "fill", cause), ("WAITS-2", "fill", cause)]
    allocated = [e for e in outbox(engine, waits_1["id"]) if e["event_type"] == "order.allocated"]
    assert [e["destinations"] for e in allocated] == [["wms"]]
    # The ATP went 0 → 3 → 0 within the transaction: no stock message says otherwise.
    assert stock_events(engine, "A")[-1]["payload"]["atp"] == 0


async def test_cancelling_the_allocated_line_sends_the_wms_the_backorder_still_due(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    """Line 1 is allocated, line 2 backordered. Cancelling line 1 leaves no reservation:
    order.allocated with none makes the WMS drop the order's fulfillment orders and its
    backorder notice, so the backorder of line 2 is sent again after it."""
    await stock(
        client,
        keys,
        {"sku": "A", "location": "WH-EAST", "set_on_hand": 5},
        {"sku": "B", "location": "WH-EAST", "set_on_hand": 0},
    )
    response = await client.post(
        "/v1/orders", json=order_doc("SHORT-1", [("A", 2), ("B", 3)]), headers=Keys.bearer(keys.web)
    )
    order = await response.json()
    assert order["status"] == "partially_allocated"

    status, body = await cancel(
        client, order["id"], {"lines": [{"line_no": 1, "quantity": 2}], "reason": "x"}, keys.web
    )

    assert status == 200, body
    assert body["status"] == "backordered"
    events = [(e["event_type"], e["destinations"]) for e in outbox(engine, order["id"])]
    assert events == [
        ("order.cancelled", ["channel:web", "erp"]),
        ("order.allocated", ["wms"]),
        ("order.backordered", ["channel:web", "wms"]),
    ]
    backordered = outbox(engine, order["id"])[-1]["payload"]["lines"]
    assert [(ln["sku"], ln["quantity"]) for ln in backordered] == [("B", 3)]
