"""POST /v1/pos/sales through the real app and PostgreSQL: each completed in-store sale is
an order fulfilled, invoiced and paid at once, the store's on_hand down, the ERP told and
the WMS not; all or nothing per sale; a resent batch writes nothing."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from adapters.channels.square_orders import commands_of
from adapters.db import registry
from adapters.db.uow import SqlUnitOfWork
from domain.channel_commands import PosSale
from domain.pos_sales import apply_pos_sale
from ops.wiring import ROUTING
from tests.db_state import every_row
from tests.factories import order_doc
from tests.integration.conftest import Keys, stock
from tests.integration.money_flows import broken
from tests.integration.test_oversell import SkuLock, cancel

STORE = "STORE-LIS"


def _tax(price: str, quantity: int) -> Decimal:
    return (Decimal(price) * quantity * Decimal("0.23")).quantize(Decimal("0.01"))


def sale(sale_id: str, lines: list[tuple[str, int, str]], **more: Any) -> dict[str, Any]:
    """A sale at the store of (sku, quantity, unit price) lines, 23% tax on each."""
    return {
        "sale_id": sale_id,
        "location": STORE,
        "sold_at": "2026-11-26T10:15:00Z",
        "currency": "EUR",
        "lines": [
            {"sku": sku, "quantity": q, "unit_price": price, "tax": str(_tax(price, q))}
            for sku, q, price in lines
        ],
        **more,
    }


async def post_sales(client: Any, key: str, sales: Any) -> tuple[int, dict[str, Any]]:
    response = await client.post("/v1/pos/sales", json={"sales": sales}, headers=Keys.bearer(key))
    return response.status, dict(await response.json())


def on_hand(engine: sa.Engine, sku: str, location: str = STORE) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.text("SELECT on_hand FROM stock WHERE sku = :s AND location = :l"),
                {"s": sku, "l": location},
            ).scalar_one()
        )


def destinations(engine: sa.Engine, order_id: str) -> dict[str, list[str]]:
    """Event type → its destinations, for the order's events."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT e.event_type, array_agg(d.destination ORDER BY d.destination)"
                " FROM outbox_events e JOIN outbox_deliveries d USING (event_id)"
                " WHERE e.aggregate_id = :o GROUP BY e.id, e.event_type ORDER BY e.id"
            ),
            {"o": order_id},
        ).all()
    return {event_type: list(dests) for event_type, dests in rows}


async def shelf(client: Any, keys: Keys, **counts: int) -> None:
    await stock(
        client,
        keys,
        *({"sku": sku, "location": STORE, "set_on_hand": n} for sku, n in counts.items()),
        {"sku": "A", "location": "WH-EAST", "set_on_hand": 50},
    )


async def test_a_batch_of_three_sales_makes_three_fulfilled_paid_orders_off_the_stores_shelf(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    await shelf(client, keys, A=10, B=5)
    status, body = await post_sales(
        client,
        keys.pos,
        [
            sale("LIS-1", [("A", 2, "10.00")]),
            sale("LIS-2", [("A", 1, "10.00"), ("B", 1, "0.00")]),
            sale("LIS-3", [("B", 3, "4.99")], customer_email="ana@example.com", total="18.41"),
        ],
    )
    assert status == 200, body
    results = body["results"]
    assert [(r["sale_id"], r["status"], r["order_status"]) for r in results] == [
        ("LIS-1", "created", "fulfilled"),
        ("LIS-2", "created", "fulfilled"),
        ("LIS-3", "created", "fulfilled"),
    ]
    assert (on_hand(engine, "A"), on_hand(engine, "B")) == (7, 1)
    assert on_hand(engine, "A", "WH-EAST") == 50
    for result in results:
        order = await client.get(f"/v1/orders/{result['order_id']}", headers=Keys.bearer(keys.pos))
        document = await order.json()
        money = document["money"]
        total = document["totals"]["grand_total"]
        assert money["invoiced"] == money["captured"] == money["authorized"] == total
        assert broken(engine, result["order_id"]) == []
        assert document["reservations"] == []
        routed = destinations(engine, result["order_id"])
        assert "erp" in routed["order.accepted"]
        assert "erp" in routed["shipment.dispatched"]
        assert routed["payment.recorded"] == ["erp"]
        assert "order.allocated" not in routed
        assert not any("wms" in dests for dests in routed.values())
    assert document["totals"]["grand_total"] == "18.41"  # 3 × 4.99 + 3.44 tax
    with engine.connect() as conn:
        wms = conn.execute(
            sa.text("SELECT count(*) FROM outbox_deliveries WHERE destination = 'wms'")
        ).scalar_one()
        kinds = conn.execute(
            sa.text("SELECT carrier, tracking_number, location FROM shipments ORDER BY 2")
        ).all()
    assert wms == 0
    assert [tuple(k) for k in kinds] == [
        ("IN-STORE", "LIS-1", STORE),
        ("IN-STORE", "LIS-2", STORE),
        ("IN-STORE", "LIS-3", STORE),
    ]


async def test_a_resent_batch_duplicates_nothing(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    await shelf(client, keys, A=10, B=5)
    batch = [sale("LIS-1", [("A", 2, "10.00")]), sale("LIS-2", [("B", 1, "3.00")])]
    status, first = await post_sales(client, keys.pos, batch)
    assert status == 200 and {r["status"] for r in first["results"]} == {"created"}
    before = every_row(engine)
    status, again = await post_sales(client, keys.pos, batch)
    assert status == 200, again
    assert [(r["status"], r["order_id"]) for r in again["results"]] == [
        ("duplicate", r["order_id"]) for r in first["results"]
    ]
    assert every_row(engine) == before


async def test_one_bad_sale_is_rejected_and_the_others_are_created(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    await shelf(client, keys, A=10, B=5)
    status, body = await post_sales(
        client,
        keys.pos,
        [
            sale("LIS-1", [("A", 1, "10.00")]),
            sale("LIS-2", [("B", 1, "10.00"), ("NO-SUCH-SKU", 1, "1.00")]),
            sale("LIS-3", [("A", 1, "10.00")], total="99.99"),
            sale("LIS-4", [("A", 1, "10.00")], location="STORE-NOWHERE"),
            sale("LIS-5", [("B", 2, "10.00")]),
        ],
    )
    assert status == 200, body
    results = {r["sale_id"]: r for r in body["results"]}
    assert [r["status"] for r in body["results"]] == [
        "created",
        "rejected",
        "rejected",
        "rejected",
        "created",
    ]
    assert results["LIS-2"]["error"]["code"] == "unknown-sku"
    assert results["LIS-2"]["error"]["skus"] == ["NO-SUCH-SKU"]
    assert results["LIS-3"]["error"]["code"] == "totals-mismatch"
    assert results["LIS-4"]["error"]["code"] == "unknown-location"
    assert "order_id" not in results["LIS-2"]
    # Nothing partial of the rejected ones: no order, and B fell only by LIS-5's two.
    assert (on_hand(engine, "A"), on_hand(engine, "B")) == (9, 3)
    with engine.connect() as conn:
        ids = conn.execute(sa.text("SELECT external_id FROM orders ORDER BY 1")).scalars().all()
        rows = conn.execute(sa.text("SELECT count(*) FROM shipments")).scalar_one()
    assert ids == ["LIS-1", "LIS-5"] and rows == 2


async def test_a_sale_beyond_the_shelf_count_is_recorded_with_its_shortfall(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    await shelf(client, keys, A=1)
    status, body = await post_sales(client, keys.pos, [sale("LIS-1", [("A", 3, "10.00")])])
    [result] = body["results"]
    assert status == 200 and result["status"] == "created", body
    assert result["shortfalls"] == [{"sku": "A", "location": STORE, "quantity": 2}]
    assert on_hand(engine, "A") == 0
    timeline = await client.get(
        f"/v1/orders/{result['order_id']}/timeline", headers=Keys.bearer(keys.pos)
    )
    [entry] = (await timeline.json())["entries"]
    assert entry["command"] == "pos_sale"
    assert entry["detail"]["shortfalls"] == [{"sku": "A", "location": STORE, "quantity": 2}]
    assert broken(engine, result["order_id"]) == []


async def test_two_batches_racing_for_the_last_unit_both_sell_and_on_hand_stops_at_zero(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    """Both tills handed the unit over (the shelf was wrong by one): both sales are
    recorded, the store's on_hand falls to 0 and no lower, and exactly one sale carries
    the shortfall of one unit."""
    await shelf(client, keys, A=1)
    lock = SkuLock(engine, "A")
    tasks = [
        asyncio.create_task(post_sales(client, keys.pos, [sale(f"TILL-{n}", [("A", 1, "10.00")])]))
        for n in (1, 2)
    ]
    try:
        await lock.until_waiting(2)
    except BaseException:
        cancel(tasks)
        raise
    finally:
        lock.release()
    answers = await asyncio.gather(*tasks)
    results = [body["results"][0] for status, body in answers if status == 200]
    assert len(results) == 2 and {r["status"] for r in results} == {"created"}
    assert sorted(len(r.get("shortfalls", [])) for r in results) == [0, 1]
    assert on_hand(engine, "A") == 0
    for result in results:
        assert broken(engine, result["order_id"]) == []


async def test_a_sale_below_the_reserved_units_moves_the_web_orders_reservation(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    """The store's one unit was reserved for a web order (ship from store); a walk-in took
    it: the web order's reservation moves to the warehouse, and reserved never exceeds
    on_hand at the store."""
    with engine.begin() as conn:
        registry.add_location(conn, STORE, "store", 1)  # the allocator's first choice
    await stock(
        client,
        keys,
        {"sku": "A", "location": STORE, "set_on_hand": 1},
        {"sku": "A", "location": "WH-EAST", "set_on_hand": 5},
    )
    placed = await client.post(
        "/v1/orders", json=order_doc("WEB-1", [("A", 1)]), headers=Keys.bearer(keys.web)
    )
    web = await placed.json()
    assert [r["location"] for r in web["reservations"]] == [STORE]
    status, body = await post_sales(client, keys.pos, [sale("LIS-1", [("A", 1, "10.00")])])
    assert status == 200 and body["results"][0]["status"] == "created", body
    again = await (
        await client.get(f"/v1/orders/{web['id']}", headers=Keys.bearer(keys.web))
    ).json()
    assert [r["location"] for r in again["reservations"]] == ["WH-EAST"]
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT on_hand, reserved FROM stock WHERE sku = 'A' AND location = :l"),
            {"l": STORE},
        ).one()
    assert tuple(row) == (0, 0)


async def test_bad_input_is_a_problem_and_writes_nothing(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    await shelf(client, keys, A=10)
    before = every_row(engine)
    bearer = Keys.bearer(keys.pos)
    malformed = await client.post(
        "/v1/pos/sales",
        data=b'{"sales": [',
        headers={**bearer, "Content-Type": "application/json"},
    )
    assert malformed.status == 400
    assert malformed.content_type == "application/problem+json"
    good = sale("LIS-1", [("A", 1, "10.00")])
    for body in (
        {},
        {"sales": []},
        {"sales": "LIS-1"},
        {"sales": [good, {**good, "sale_id": "LIS-2", "lines": [{"sku": "A", "quantity": "1"}]}]},
        {"sales": [{**good, "lines": [{"sku": "A", "quantity": 1, "unit_price": "ten"}]}]},
        {"sales": [{**good, "sold_at": "yesterday"}]},
        {"sales": [{**good, "currency": "EURO"}]},
        {"sales": [good] * 101},
    ):
        response = await client.post("/v1/pos/sales", json=body, headers=bearer)
        assert response.status == 422, (body, await response.text())
        assert response.content_type == "application/problem+json"
    assert every_row(engine) == before


async def test_only_a_store_channels_key_may_send_sales(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    await shelf(client, keys, A=10)
    before = every_row(engine)
    batch = {"sales": [sale("LIS-1", [("A", 1, "10.00")])]}
    for key, expected in ((keys.web, 403), (keys.erp, 403), (keys.admin, 403), ("nope", 401)):
        response = await client.post("/v1/pos/sales", json=batch, headers=Keys.bearer(key))
        assert response.status == expected, key
    with engine.begin() as conn:
        square = registry.add_channel(conn, "square-lis", "square")
    status, body = await post_sales(client, square, batch["sales"])
    assert status == 200 and body["results"][0]["status"] == "created"
    assert every_row(engine) != before


async def test_the_route_is_in_the_openapi_document(client: Any) -> None:
    spec = await (await client.get("/openapi.json")).json()
    operation = spec["paths"]["/v1/pos/sales"]["post"]
    assert operation["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/PosSales"
    }
    assert "PosSale" in spec["components"]["schemas"]
    assert "PosSaleResults" in spec["components"]["schemas"]


async def test_a_sale_id_sent_again_with_other_content_is_rejected(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    await shelf(client, keys, A=10)
    await post_sales(client, keys.pos, [sale("LIS-1", [("A", 1, "10.00")])])
    before = every_row(engine)
    status, body = await post_sales(client, keys.pos, [sale("LIS-1", [("A", 2, "10.00")])])
    [result] = body["results"]
    assert status == 200 and result["status"] == "rejected"
    assert result["error"]["code"] == "duplicate-mismatch"
    assert every_row(engine) == before


async def test_a_tills_own_sku_is_taken_as_the_one_it_is_mapped_to(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    await shelf(client, keys, A=10)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO sku_mappings (channel, channel_sku, sku, created_by)"
                " VALUES ('pos', 'TILL-0042', 'A', 'test')"
            )
        )
    status, body = await post_sales(
        client, keys.pos, [sale("LIS-1", [("TILL-0042", 2, "10.00"), ("A", 1, "10.00")])]
    )
    [result] = body["results"]
    assert status == 200 and result["status"] == "created", body
    order = await (
        await client.get(f"/v1/orders/{result['order_id']}", headers=Keys.bearer(keys.pos))
    ).json()
    assert [(ln["sku"], ln["quantity"]) for ln in order["lines"]] == [("A", 2), ("A", 1)]
    assert on_hand(engine, "A") == 7


async def test_a_square_counter_sale_goes_through_the_same_service(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    """The channel-command dispatch's hook: Square's counter sale, read from its fixture,
    applied with apply_pos_sale — the order a till's batch would have made."""
    fixture = Path(__file__).resolve().parent.parent / "fixtures" / "square"
    document = json.loads((fixture / "order_counter_sale_jpy.json").read_bytes())
    [command] = commands_of(
        document, {"7KXQG3H2ZJUEFRCPWM4NVB5S": "A", "P4DM2YQJ7L6FHXKTC3RWZA9E": "B"}, store=STORE
    )
    assert isinstance(command, PosSale)
    await shelf(client, keys, A=5, B=5)
    with engine.begin() as conn:
        registry.add_channel(conn, "square-tokyo", "square")
    applied = apply_pos_sale(SqlUnitOfWork(engine, routing=ROUTING), command, "square-tokyo")
    assert applied.created and applied.order.status.value == "fulfilled"
    assert (on_hand(engine, "A"), on_hand(engine, "B")) == (3, 4)
    assert broken(engine, str(applied.order.id)) == []
    assert applied.order.totals["grand_total"] == "1447"
