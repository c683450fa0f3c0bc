"""Invariant 7: no oversell, whatever the concurrency across channels."""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa

from tests.factories import order_doc
from tests.integration.conftest import Keys, stock


def scalar(engine: sa.Engine, sql: str, **params: Any) -> Any:
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar_one()


class SkuLock:
    """The test holds SKU rows locked (as every stock writer locks them, `FOR UPDATE`),
    and sees requests queue behind it in pg_stat_activity: a race that provably happened,
    every request in flight at once, not one that a sleep hoped for."""

    def __init__(self, engine: sa.Engine, *skus: str) -> None:
        self.engine = engine
        self.conn = engine.connect()
        self.transaction = self.conn.begin()
        self.conn.execute(
            sa.text("SELECT sku FROM skus WHERE sku = ANY(:skus) ORDER BY sku FOR UPDATE"),
            {"skus": list(skus)},
        )

    def waiters(self) -> int:
        """Backends of this test's database (nobody else uses it) waiting to lock SKU rows."""
        return int(
            scalar(
                self.engine,
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                " AND query ILIKE '%FROM skus%FOR UPDATE%'",
            )
        )

    async def until_waiting(self, count: int) -> None:
        for _ in range(600):  # a bound on waiting for the requests to arrive, not a timing
            if self.waiters() >= count:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"{count} requests never all waited on the lock: {self.waiters()}")

    def release(self) -> None:
        self.transaction.rollback()
        self.conn.close()


def cancel(tasks: list[asyncio.Task[Any]]) -> None:
    """A race that failed to line up: its requests are not left running past the test."""
    for task in tasks:
        task.cancel()


async def test_forty_orders_from_two_channels_racing_for_ten_units_reserve_exactly_ten(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    """Twenty orders from each channel wait on the SKU's lock at the same moment, then race
    for the ten units: exactly ten are allocated, whichever channel sent them (no fairness
    between channels is promised), and nothing is left to promise."""
    await stock(
        client,
        keys,
        {"sku": "LAST", "location": "WH-EAST", "set_on_hand": 6},
        {"sku": "LAST", "location": "STORE-LIS", "set_on_hand": 4},
    )

    async def place(channel: str, i: int) -> tuple[int, Any]:
        key = keys.web if channel == "web" else keys.pos
        response = await client.post(
            "/v1/orders",
            json=order_doc(f"RACE-{channel}-{i}", [("LAST", 1)]),
            headers=Keys.bearer(key),
        )
        return response.status, await response.json()

    # The app serves 40 requests at a time (the client fixture's threads): 20 + 20 all fit.
    lock = SkuLock(engine, "LAST")
    racing: list[asyncio.Task[tuple[int, Any]]] = []
    try:
        racing += [asyncio.create_task(place("web", i)) for i in range(20)]
        await lock.until_waiting(20)  # every web order is in flight, queued on the lock
        racing += [asyncio.create_task(place("pos", i)) for i in range(20)]
        await lock.until_waiting(40)  # and every pos order beside them
        assert not any(t.done() for t in racing)  # none got past the lock we hold
    except BaseException:
        cancel(racing)
        raise
    finally:
        lock.release()
    results = await asyncio.gather(*racing)

    assert [status for status, _ in results] == [201] * 40, results
    assert [body["channel"] for _, body in results] == ["web"] * 20 + ["pos"] * 20
    statuses = [body["status"] for _, body in results]
    assert statuses.count("allocated") == 10
    assert statuses.count("backordered") == 30
    allocated = {body["id"] for _, body in results if body["status"] == "allocated"}
    with engine.connect() as conn:
        reserved_by_order: dict[str, int] = {
            order_id: quantity
            for order_id, quantity in conn.execute(
                sa.text("SELECT order_id::text, sum(quantity) FROM reservations GROUP BY 1")
            )
        }
    assert reserved_by_order == {order_id: 1 for order_id in allocated}  # one unit each
    assert scalar(engine, "SELECT sum(reserved) FROM stock WHERE sku = 'LAST'") == 10
    inventory = await client.get("/v1/inventory/LAST", headers=Keys.bearer(keys.web))
    assert (await inventory.json())["atp"] == 0


async def test_multi_line_orders_in_opposite_line_order_never_deadlock_a_client(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    skus = ["P", "Q", "R", "S"]
    await stock(
        client, keys, *({"sku": s, "location": "WH-EAST", "set_on_hand": 1000} for s in skus)
    )

    async def place(i: int) -> int:
        lines = [(s, 1) for s in (skus if i % 2 else list(reversed(skus)))]
        response = await client.post(
            "/v1/orders", json=order_doc(f"DL-{i}", lines), headers=Keys.bearer(keys.web)
        )
        assert response.status == 201, await response.text()
        return int(response.status)

    lock = SkuLock(engine, "P")  # every order locks its SKUs sorted: P first
    placing = [asyncio.create_task(place(i)) for i in range(80)]
    try:
        await lock.until_waiting(40)  # the app's 40 threads all hold an order waiting on P
    except BaseException:
        cancel(placing)
        raise
    finally:
        lock.release()
    await asyncio.gather(*placing)
    for s in skus:
        assert scalar(engine, "SELECT reserved FROM stock WHERE sku = :s", s=s) == 80
        assert scalar(engine, "SELECT sum(quantity) FROM reservations WHERE sku = :s", s=s) == 80


async def test_stock_shrinking_while_orders_race_never_leaves_reserved_above_on_hand(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    await stock(client, keys, {"sku": "SHR", "location": "WH-EAST", "set_on_hand": 20})

    async def place(i: int) -> None:
        response = await client.post(
            "/v1/orders", json=order_doc(f"SHR-{i}", [("SHR", 1)]), headers=Keys.bearer(keys.web)
        )
        assert response.status == 201, await response.text()

    async def shrink(i: int) -> None:
        response = await client.post(
            "/v1/inventory/adjustments",
            json={"adjustments": [{"sku": "SHR", "location": "WH-EAST", "delta": -1}]},
            headers=Keys.bearer(keys.erp),
        )
        assert response.status in (200, 422), await response.text()

    lock = SkuLock(engine, "SHR")
    racing = [asyncio.create_task(place(i)) for i in range(30)]
    racing += [asyncio.create_task(shrink(i)) for i in range(10)]
    try:
        await lock.until_waiting(40)  # all thirty orders and ten shrinks in flight at once
    except BaseException:
        cancel(racing)
        raise
    finally:
        lock.release()
    await asyncio.gather(*racing)
    on_hand = scalar(engine, "SELECT on_hand FROM stock WHERE sku = 'SHR'")
    reserved = scalar(engine, "SELECT reserved FROM stock WHERE sku = 'SHR'")
    held = scalar(engine, "SELECT coalesce(sum(quantity), 0) FROM reservations WHERE sku = 'SHR'")
    assert on_hand == 10
    assert reserved == held == 10
    allocated = scalar(engine, "SELECT count(*) FROM orders WHERE status = 'allocated'")
    assert allocated == 10
