"""Stock that arrives goes to the backordered orders, oldest first, over HTTP and real
PostgreSQL; and a fill racing other stock writers neither deadlocks nor oversells."""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa

from tests.integration.conftest import Keys, stock
from tests.integration.stock_helpers import events, last_event_id, place, ship_all
from tests.integration.test_oversell import SkuLock, cancel, scalar


async def adjust(client: Any, keys: Keys, *adjustments: dict[str, Any]) -> tuple[int, Any]:
    response = await client.post(
        "/v1/inventory/adjustments",
        json={"adjustments": list(adjustments)},
        headers=Keys.bearer(keys.erp),
    )
    return response.status, await response.json()


async def test_an_adjustment_up_fills_the_oldest_backorders_across_locations(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    await stock(client, keys, {"sku": "A", "location": "WH-EAST", "set_on_hand": 0})
    newest = await place(client, keys, "N", [("A", 2)], "2026-11-26T12:00:00Z")
    oldest = await place(client, keys, "O", [("A", 2)], "2026-11-26T10:00:00Z")
    middle = await place(client, keys, "M", [("A", 2)], "2026-11-26T11:00:00Z")
    since = last_event_id(engine)

    status, _ = await adjust(
        client,
        keys,
        {"sku": "A", "location": "WH-WEST", "set_on_hand": 2},
        {"sku": "A", "location": "STORE-LIS", "set_on_hand": 1},
    )

    assert status == 200
    got = {}
    for order in (oldest, middle, newest):
        response = await client.get(f"/v1/orders/{order['id']}", headers=Keys.bearer(keys.web))
        got[order["external_id"]] = await response.json()
    assert [(got[k]["status"], got[k]["version"]) for k in "OMN"] == [
        ("allocated", 2),
        ("partially_allocated", 2),
        ("backordered", 1),
    ]
    assert [(r["location"], r["quantity"]) for r in got["O"]["reservations"]] == [("WH-WEST", 2)]
    assert [(r["location"], r["quantity"]) for r in got["M"]["reservations"]] == [("STORE-LIS", 1)]
    emitted = [
        (e["event_type"], e["aggregate_id"], e["destinations"]) for e in events(engine, since)
    ]
    # No inventory.changed: 3 arrived and 3 were reserved, so nobody may sell more.
    assert emitted == [
        ("order.allocated", oldest["id"], ["wms"]),
        ("order.allocated", middle["id"], ["wms"]),
        ("order.backordered", middle["id"], ["channel:web", "wms"]),
    ]
    assert scalar(engine, "SELECT sum(reserved) FROM stock WHERE sku = 'A'") == 3


class StockLock(SkuLock):
    """SkuLock, counting every backend of this database that waits on a lock: an
    adjustment to a new location waits on the SKU row in its stock row's foreign key
    check (FOR KEY SHARE against our FOR UPDATE), before its own SELECT … FOR UPDATE."""

    def waiters(self) -> int:
        return int(
            scalar(
                self.engine,
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'",
            )
        )


async def test_fills_racing_each_other_and_a_shipment_neither_deadlock_nor_oversell(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    """Ten orders of one X and one Y wait, backordered, beside a shipped-in-part order.
    The test holds X and Y locked while two adjustments of X, one of Y and a shipment of X
    queue behind it (seen in pg_stat_activity), then lets them all go at once: each fill
    locks its orders in id order, so none deadlocks; what arrived is reserved exactly once,
    oldest order first, and stock.reserved is the sum of the reservations."""
    await stock(
        client,
        keys,
        {"sku": "X", "location": "WH-EAST", "set_on_hand": 1},
        {"sku": "Y", "location": "WH-EAST", "set_on_hand": 0},
    )
    shipping = await place(client, keys, "SHIP", [("X", 1)], "2026-11-26T08:00:00Z")
    waiting = [
        await place(client, keys, f"W-{i}", [("X", 1), ("Y", 1)], f"2026-11-26T09:{i:02d}:00Z")
        for i in range(10)
    ]
    assert {w["status"] for w in waiting} == {"backordered"}

    async def ship() -> tuple[int, Any]:
        response = await client.post(
            "/v1/shipments",
            json={
                "order_id": shipping["id"],
                "location": "WH-EAST",
                "carrier": "DHL",
                "tracking_number": "RACE-1",
                "lines": [{"sku": "X", "quantity": 1}],
            },
            headers=Keys.bearer(keys.erp),
        )
        return response.status, await response.json()

    deadlocks = scalar(
        engine, "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
    )
    lock = StockLock(engine, "X", "Y")
    racing: list[asyncio.Task[tuple[int, Any]]] = []
    try:
        racing += [
            asyncio.create_task(
                adjust(client, keys, {"sku": "X", "location": "WH-WEST", "delta": 2})
            ),
            asyncio.create_task(
                adjust(client, keys, {"sku": "X", "location": "STORE-LIS", "delta": 2})
            ),
            asyncio.create_task(
                adjust(client, keys, {"sku": "Y", "location": "WH-EAST", "delta": 3})
            ),
            asyncio.create_task(ship()),
        ]
        await lock.until_waiting(4)
        assert not any(t.done() for t in racing)
    except BaseException:
        cancel(racing)
        raise
    finally:
        lock.release()
    results = await asyncio.gather(*racing)

    assert [status for status, _ in results] == [200, 200, 200, 201], results
    assert (
        scalar(engine, "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        == deadlocks
    )  # none retried away either
    reserved_per_order = dict(
        sa_rows(engine, "SELECT order_id::text, sum(quantity) FROM reservations GROUP BY 1")
    )
    # 4 X and 3 Y arrived: the 4 oldest waiting orders hold an X, the 3 oldest also a Y.
    expected = {w["id"]: 2 for w in waiting[:3]} | {waiting[3]["id"]: 1}
    assert reserved_per_order == expected
    for sku in ("X", "Y"):
        assert scalar(engine, "SELECT sum(reserved) FROM stock WHERE sku = :s", s=sku) == scalar(
            engine, "SELECT coalesce(sum(quantity), 0) FROM reservations WHERE sku = :s", s=sku
        )
    assert scalar(engine, "SELECT count(*) FROM stock WHERE reserved > on_hand") == 0
    assert (
        scalar(engine, "SELECT status FROM orders WHERE id = :i", i=shipping["id"]) == "fulfilled"
    )
    assert (
        scalar(
            engine,
            "SELECT count(*) FROM order_lines WHERE allocated + shipped + cancelled > quantity",
        )
        == 0
    )


def sa_rows(engine: sa.Engine, sql: str) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(sa.text(sql))]


async def test_a_part_shipped_orders_remaining_backorder_is_filled(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    await stock(client, keys, {"sku": "A", "location": "WH-EAST", "set_on_hand": 1})
    order = await place(client, keys, "PART", [("A", 3)], "2026-11-26T10:00:00Z")
    await ship_all(client, keys, order, "PART")

    status, _ = await adjust(client, keys, {"sku": "A", "location": "WH-WEST", "delta": 5})

    assert status == 200
    current = await (
        await client.get(f"/v1/orders/{order['id']}", headers=Keys.bearer(keys.web))
    ).json()
    assert current["status"] == "partially_fulfilled"
    assert [(r["location"], r["quantity"]) for r in current["reservations"]] == [("WH-WEST", 2)]
