"""Races of edits and cancellations with each other and with shipments: one winner, decided
by the database, the loser a 409, nothing half-written.

Each race is made to happen, not hoped for: the first request is paused inside its
transaction once it holds every lock it takes (as it writes its change-log entry, just
before COMMIT); the second is then seen in pg_stat_activity waiting on a lock that the
first one's backend holds (pg_blocking_pids). Only then does the first go on. So both were
in flight at once, the second queued behind the first's row locks, and what it finds is
the first's committed result.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from tests.factories import order_doc
from tests.integration.conftest import Keys, stock

Request = Callable[[], Awaitable[tuple[int, Any]]]


class PauseFirstChange:
    """Once armed, holds the first change-log insert on `engine` (its transaction holds its
    locks) until `go()`; remembers that backend's pid."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.paused = threading.Event()
        self.released = threading.Event()
        self.armed = False
        self.pid: int | None = None

    def arm(self) -> None:
        sa.event.listen(self.engine, "before_cursor_execute", self._hook)
        self.armed = True

    def _hook(self, conn: sa.Connection, _cursor: Any, statement: str, *_: Any) -> None:
        if self.paused.is_set() or not statement.startswith("INSERT INTO order_changes"):
            return
        self.pid = conn.connection.dbapi_connection.info.backend_pid  # type: ignore[union-attr]
        self.paused.set()
        self.released.wait(60)  # a bound, should the test fail before releasing it

    async def until_paused(self) -> None:
        for _ in range(600):  # a bound on waiting for the request to get there, not a timing
            if self.paused.is_set():
                return
            await asyncio.sleep(0.05)
        raise AssertionError("the first request never reached its change-log entry")

    def blocked_by_first(self) -> int:
        """Backends of this test's database waiting on a lock the paused one holds."""
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    sa.text(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                        " AND :pid = ANY(pg_blocking_pids(pid))"
                    ),
                    {"pid": self.pid},
                ).scalar_one()
            )

    async def until_blocked(self) -> None:
        for _ in range(600):
            if self.blocked_by_first():
                return
            await asyncio.sleep(0.05)
        raise AssertionError("the second request never waited on the first one's locks")

    def go(self) -> None:
        self.released.set()  # the hook stays: a no-op from now on (removing it under a
        # statement that is running it would break that statement)

    def disarm(self) -> None:
        self.go()
        if self.armed:
            sa.event.remove(self.engine, "before_cursor_execute", self._hook)
            self.armed = False


@pytest.fixture
def pause(engine: sa.Engine) -> Iterator[PauseFirstChange]:
    paused = PauseFirstChange(engine)
    yield paused
    paused.disarm()


async def race(pause: PauseFirstChange, first: Request, second: Request) -> list[tuple[int, Any]]:
    """`first` paused holding its locks, `second` seen waiting on them, then both finish."""
    pause.arm()
    tasks = [asyncio.create_task(first())]
    try:
        await pause.until_paused()
        tasks.append(asyncio.create_task(second()))
        await pause.until_blocked()
        assert not any(task.done() for task in tasks)
    except BaseException:
        pause.go()
        for task in tasks:
            task.cancel()
        raise
    pause.go()
    return list(await asyncio.gather(*tasks))


async def placed(client: Any, keys: Keys) -> str:
    await stock(
        client,
        keys,
        {"sku": "A", "location": "WH-EAST", "set_on_hand": 5},
        {"sku": "B", "location": "WH-EAST", "set_on_hand": 5},
    )
    response = await client.post(
        "/v1/orders", json=order_doc("RACE-1", [("A", 2), ("B", 1)]), headers=Keys.bearer(keys.web)
    )
    assert response.status == 201, await response.text()
    return str((await response.json())["id"])


def call(client: Any, method: str, path: str, body: Any, key: str) -> Request:
    async def send() -> tuple[int, Any]:
        response = await client.request(method, path, json=body, headers=Keys.bearer(key))
        return response.status, await response.json()

    return send


def ship_line_1(client: Any, keys: Keys, order_id: str) -> Request:
    body = {
        "order_id": order_id,
        "location": "WH-EAST",
        "carrier": "DHL",
        "tracking_number": "RACE-T1",
        "lines": [{"sku": "A", "quantity": 2}],
    }
    return call(client, "POST", "/v1/shipments", body, keys.erp)


def cancel_line_1(client: Any, keys: Keys, order_id: str) -> Request:
    body = {"lines": [{"line_no": 1, "quantity": 2}]}
    return call(client, "POST", f"/v1/orders/{order_id}/cancel", body, keys.web)


def remove_line_1(client: Any, keys: Keys, order_id: str) -> Request:
    body = {"lines": [{"line_no": 1, "quantity": 0}]}
    return call(client, "PATCH", f"/v1/orders/{order_id}", body, keys.admin)


def state(engine: sa.Engine, order_id: str) -> dict[str, Any]:
    with engine.connect() as conn:

        def rows(sql: str) -> list[tuple[Any, ...]]:
            return [tuple(r) for r in conn.execute(sa.text(sql), {"id": order_id})]

        return {
            "line_1": rows(
                "SELECT quantity, allocated, shipped, cancelled FROM order_lines"
                " WHERE order_id = :id AND line_no = 1"
            )[0],
            "reservations": rows(
                "SELECT sku, quantity FROM reservations WHERE order_id = :id ORDER BY sku"
            ),
            "stock_a": rows("SELECT on_hand, reserved FROM stock WHERE sku = 'A'")[0],
            "shipments": rows("SELECT count(*) FROM shipments WHERE order_id = :id")[0][0],
            "changes": [
                r[0]
                for r in rows("SELECT command FROM order_changes WHERE order_id = :id ORDER BY id")
            ],
            "events": [
                r[0]
                for r in rows(
                    "SELECT event_type FROM outbox_events WHERE aggregate_id = :id"
                    " AND aggregate_version > 1 ORDER BY id"
                )
            ],
            "version": rows("SELECT version FROM orders WHERE id = :id")[0][0],
        }


async def test_two_cancellations_of_one_line_at_once_cancel_it_once(
    client: Any, keys: Keys, engine: sa.Engine, pause: PauseFirstChange
) -> None:
    order_id = await placed(client, keys)

    first, second = await race(
        pause, cancel_line_1(client, keys, order_id), cancel_line_1(client, keys, order_id)
    )

    assert first[0] == 200, first
    assert second == (409, second[1]) and second[1]["detail"] == "line 1: 0 left to cancel, not 2"
    assert state(engine, order_id) == {
        "line_1": (2, 0, 0, 2),
        "reservations": [("B", 1)],
        "stock_a": (5, 0),
        "shipments": 0,
        "changes": ["place", "cancel"],
        "events": ["order.cancelled", "order.allocated"],
        "version": 2,
    }


# What each side leaves when it wins: the line, the reservations, A's stock, the log.
CANCELLED = {
    "line_1": (2, 0, 0, 2),
    "reservations": [("B", 1)],
    "stock_a": (5, 0),
    "shipments": 0,
    "version": 2,
}
SHIPPED = {
    "line_1": (2, 0, 2, 0),
    "reservations": [("B", 1)],
    "stock_a": (3, 0),
    "shipments": 1,
    "changes": ["place", "ship"],
    "events": ["shipment.dispatched"],
    "version": 2,
}


@pytest.mark.parametrize("first", ["cancel", "shipment"])
async def test_a_cancellation_racing_a_shipment_of_the_line_has_one_winner(
    client: Any, keys: Keys, engine: sa.Engine, pause: PauseFirstChange, first: str
) -> None:
    order_id = await placed(client, keys)
    cancelling, shipping = (
        cancel_line_1(client, keys, order_id),
        ship_line_1(client, keys, order_id),
    )

    if first == "cancel":
        (won, won_body), (lost, lost_body) = await race(pause, cancelling, shipping)
        assert (won, lost) == (200, 409), (won_body, lost_body)
        assert (
            lost_body["detail"]
            == "cannot ship 2 of A from WH-EAST: 0 reserved there for this order"
        )
        expected = {
            **CANCELLED,
            "changes": ["place", "cancel"],
            "events": ["order.cancelled", "order.allocated"],
        }
    else:
        (won, won_body), (lost, lost_body) = await race(pause, shipping, cancelling)
        assert (won, lost) == (201, 409), (won_body, lost_body)
        assert lost_body["detail"] == (
            "line 1: 0 left to cancel, not 2; 2 already shipped, use a return"
        )
        expected = SHIPPED
    assert state(engine, order_id) == expected


@pytest.mark.parametrize("first", ["edit", "shipment"])
async def test_an_edit_racing_a_shipment_of_the_line_has_one_winner(
    client: Any, keys: Keys, engine: sa.Engine, pause: PauseFirstChange, first: str
) -> None:
    order_id = await placed(client, keys)
    editing, shipping = remove_line_1(client, keys, order_id), ship_line_1(client, keys, order_id)

    if first == "edit":
        (won, won_body), (lost, lost_body) = await race(pause, editing, shipping)
        assert (won, lost) == (200, 409), (won_body, lost_body)
        assert "0 reserved there" in lost_body["detail"]
        expected = {
            **CANCELLED,
            "changes": ["place", "edit"],
            "events": ["order.amended", "order.allocated"],
        }
    else:
        (won, won_body), (lost, lost_body) = await race(pause, shipping, editing)
        assert (won, lost) == (201, 409), (won_body, lost_body)
        assert lost_body["detail"] == "line 1: 2 already shipped; use a return"
        expected = SHIPPED
    assert state(engine, order_id) == expected
