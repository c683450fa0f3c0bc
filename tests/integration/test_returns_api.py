"""POST /v1/orders/{id}/returns and POST /v1/returns/{id}/receipts over HTTP, real
PostgreSQL: quantities checked against what shipped, restock fills backorders, damaged
does not, a repeated receipt writes nothing."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from tests.integration.conftest import Keys, stock
from tests.integration.stock_helpers import events, last_event_id, place, ship_all, written


async def shipped(client: Any, keys: Keys, external_id: str = "RET-1") -> dict[str, Any]:
    """An order of 3 A and 1 B, shipped in full from WH-EAST (which has nothing left)."""
    await stock(
        client,
        keys,
        {"sku": "A", "location": "WH-EAST", "set_on_hand": 3},
        {"sku": "B", "location": "WH-EAST", "set_on_hand": 1},
    )
    order = await place(client, keys, external_id, [("A", 3), ("B", 1)], "2026-11-26T09:00:00Z")
    await ship_all(client, keys, order, external_id)
    return order


async def open_return(
    client: Any, key: str, order_id: str, *lines: tuple[int, int]
) -> tuple[int, dict[str, Any]]:
    response = await client.post(
        f"/v1/orders/{order_id}/returns",
        json={"lines": [{"line_no": n, "quantity": q} for n, q in lines], "reason": "too small"},
        headers=Keys.bearer(key),
    )
    return response.status, await response.json()


async def receive(
    client: Any, key: str, return_id: str, location: str, *lines: tuple[int, int, str]
) -> tuple[int, dict[str, Any]]:
    response = await client.post(
        f"/v1/returns/{return_id}/receipts",
        json={
            "location": location,
            "lines": [{"line_no": n, "quantity": q, "disposition": d} for n, q, d in lines],
        },
        headers=Keys.bearer(key),
    )
    return response.status, await response.json()


async def test_a_return_is_stored_counted_on_the_lines_and_sent_to_the_wms_and_the_channel(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    order = await shipped(client, keys)
    since = last_event_id(engine)

    status, ret = await open_return(client, keys.web, order["id"], (1, 2))

    assert status == 201, ret
    assert (ret["status"], ret["lines"]) == ("open", [{"line_no": 1, "sku": "A", "quantity": 2}])
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT status, lines FROM returns")).one()
        lines = conn.execute(
            sa.text("SELECT line_no, returned FROM order_lines WHERE order_id = :id ORDER BY 1"),
            {"id": order["id"]},
        ).all()
        change = conn.execute(
            sa.text("SELECT command, caller, version FROM order_changes ORDER BY id DESC LIMIT 1")
        ).one()
    assert (row.status, row.lines) == ("open", [{"line_no": 1, "sku": "A", "quantity": 2}])
    assert [tuple(x) for x in lines] == [(1, 2), (2, 0)]
    [opened] = events(engine, since)
    assert opened["event_type"] == "return.opened"
    assert opened["destinations"] == ["channel:web", "wms"]
    assert opened["payload"]["return_id"] == ret["id"]
    assert tuple(change) == ("return", "channel:web", opened["aggregate_version"])


async def test_returning_more_than_shipped_is_a_409_naming_the_line_and_writes_nothing(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    order = await shipped(client, keys)
    status, _ = await open_return(client, keys.erp, order["id"], (1, 2))
    assert status == 201
    before = written(engine)

    status, problem = await open_return(client, keys.admin, order["id"], (2, 1), (1, 2))

    assert status == 409, problem
    assert problem["line_no"] == 1 and "line 1 (A)" in problem["detail"]
    assert written(engine) == before
    # Another channel's key may not touch the order; an unknown line is invalid.
    status, _ = await open_return(client, keys.pos, order["id"], (1, 1))
    assert status == 403
    status, problem = await open_return(client, keys.web, order["id"], (9, 1))
    assert status == 422 and problem["errors"][0]["field"] == "lines.0.line_no"
    assert written(engine) == before


async def test_a_restocked_return_fills_a_backordered_order_and_tells_the_wms(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    order = await shipped(client, keys)
    _, ret = await open_return(client, keys.web, order["id"], (1, 2), (2, 1))
    waiting = await place(client, keys, "WAIT-1", [("A", 2)], "2026-11-26T10:00:00Z")
    assert waiting["status"] == "backordered"
    since = last_event_id(engine)

    status, received = await receive(
        client, keys.erp, ret["id"], "STORE-LIS", (1, 2, "restock"), (2, 1, "damaged")
    )

    assert status == 201, received
    assert received["status"] == "received" and received["location"] == "STORE-LIS"
    current = await (
        await client.get(f"/v1/orders/{waiting['id']}", headers=Keys.bearer(keys.web))
    ).json()
    assert current["status"] == "allocated" and current["version"] == 2
    assert [(r["location"], r["quantity"]) for r in current["reservations"]] == [("STORE-LIS", 2)]
    stock_a = await (await client.get("/v1/inventory/A", headers=Keys.bearer(keys.web))).json()
    assert {lv["location"]: (lv["on_hand"], lv["reserved"]) for lv in stock_a["locations"]} == {
        "WH-EAST": (0, 0),
        "STORE-LIS": (2, 2),
    }
    stock_b = await (await client.get("/v1/inventory/B", headers=Keys.bearer(keys.web))).json()
    assert [lv["on_hand"] for lv in stock_b["locations"]] == [0]  # damaged: not back
    kinds = [(e["event_type"], e["aggregate_id"]) for e in events(engine, since)]
    assert kinds == [("return.received", order["id"]), ("order.allocated", waiting["id"])]
    allocated = events(engine, since)[1]
    assert allocated["destinations"] == ["wms"]
    assert allocated["payload"]["reservations"][0]["location"] == "STORE-LIS"
    with engine.connect() as conn:
        commands = conn.execute(
            sa.text("SELECT order_id::text, command FROM order_changes ORDER BY id DESC LIMIT 2")
        ).all()
    assert sorted(map(tuple, commands)) == sorted(
        [(order["id"], "receive"), (waiting["id"], "fill")]
    )


async def test_a_damaged_return_changes_no_stock_and_fills_nothing(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    order = await shipped(client, keys)
    _, ret = await open_return(client, keys.web, order["id"], (1, 1))
    waiting = await place(client, keys, "WAIT-2", [("A", 1)], "2026-11-26T10:00:00Z")
    since = last_event_id(engine)

    status, _ = await receive(client, keys.erp, ret["id"], "WH-EAST", (1, 1, "damaged"))

    assert status == 201
    assert [e["event_type"] for e in events(engine, since)] == ["return.received"]
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT sum(on_hand) FROM stock WHERE sku = 'A'")).scalar() == 0
        assert (
            conn.execute(
                sa.text("SELECT status FROM orders WHERE id = :id"), {"id": waiting["id"]}
            ).scalar()
            == "backordered"
        )


async def test_a_receipt_repeated_answers_200_and_writes_nothing_other_content_409(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    order = await shipped(client, keys)
    _, ret = await open_return(client, keys.web, order["id"], (1, 2))
    lines = ((1, 1, "restock"), (1, 1, "damaged"))
    status, first = await receive(client, keys.erp, ret["id"], "WH-EAST", *lines)
    assert status == 201
    before = written(engine)

    status, again = await receive(client, keys.erp, ret["id"], "WH-EAST", *reversed(lines))
    assert status == 200 and again == first
    status, problem = await receive(client, keys.erp, ret["id"], "WH-EAST", (1, 2, "restock"))
    assert status == 409 and problem["return_id"] == ret["id"]
    status, problem = await receive(client, keys.erp, ret["id"], "WH-EAST", (1, 3, "restock"))
    assert status == 409 and problem["line_no"] == 1
    assert written(engine) == before


async def test_who_may_open_and_receive_returns(client: Any, keys: Keys, engine: sa.Engine) -> None:
    order = await shipped(client, keys)
    _, ret = await open_return(client, keys.web, order["id"], (1, 1))
    status, _ = await receive(client, keys.web, ret["id"], "WH-EAST", (1, 1, "restock"))
    assert status == 403  # a channel does not receive goods
    status, _ = await receive(
        client, keys.erp, "00000000-0000-4000-8000-000000000000", "WH-EAST", (1, 1, "restock")
    )
    assert status == 404
    status, _ = await open_return(client, keys.web, "not-a-uuid", (1, 1))
    assert status == 404
