"""A refund racing a capture of one order: one winner where they conflict, nothing half
written, the money invariant holds after. Each interleaving is forced and seen (a lock
waiter in pg_stat_activity, who blocks whom from pg_blocking_pids), never hoped for by a
sleep.

Every money change locks the order row first, so a refund and a capture of one order
serialize on it: the refund sees the capture's money, or it does not and is refused."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import sqlalchemy as sa

from tests.integration.conftest import Keys
from tests.integration.money_flows import broken, money, placed, post, shipped

_WAITING = (
    "SELECT pid, query FROM pg_stat_activity"
    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
)


def waiting(engine: sa.Engine) -> dict[int, str]:
    """Backends of this test's database waiting on a lock, with their statements."""
    with engine.connect() as conn:
        return {pid: query for pid, query in conn.execute(sa.text(_WAITING))}


def blockers(engine: sa.Engine, pid: int) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text("SELECT pg_blocking_pids(:p)"), {"p": pid}).scalar_one())


async def until(engine: sa.Engine, *fragments: str) -> dict[str, int]:
    """Wait until a backend waits on a lock in a statement with each fragment; their pids.
    A bound on waiting for the requests to arrive, not a timing."""
    for _ in range(600):
        found = {f: pid for pid, q in waiting(engine).items() for f in fragments if f in q}
        if len(found) == len(fragments):
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"never all waiting: {fragments} in {waiting(engine)}")


class Held:
    """A transaction of the test's own, held open until released."""

    def __init__(self, engine: sa.Engine, sql: str, **params: Any) -> None:
        self.conn = engine.connect()
        self.transaction = self.conn.begin()
        self.conn.execute(sa.text(sql), params)
        self.pid = self.conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()

    def release(self) -> None:
        self.transaction.rollback()
        self.conn.close()


async def invoiced(client: Any, keys: Keys, external_id: str) -> tuple[str, str]:
    """An order of 3 × A, all shipped (one invoice of 42.93), nothing captured yet."""
    order = await placed(client, keys, external_id)
    return order["id"], await shipped(client, keys, order["id"], 3, "T1")


def capture(client: Any, keys: Keys, order_id: str, shipment: str) -> asyncio.Task[Any]:
    return asyncio.create_task(
        post(
            client,
            "/v1/payments",
            keys.erp,
            order_id=order_id,
            kind="capture",
            transaction_id="CAP-RACE",
            amount="42.93",
            shipment_id=shipment,
        )
    )


def refund(client: Any, keys: Keys, order_id: str, tx: str, amount: str) -> asyncio.Task[Any]:
    return asyncio.create_task(
        post(
            client,
            "/v1/refunds",
            keys.erp,
            order_id=order_id,
            transaction_id=tx,
            kind="goodwill",
            amount=amount,
        )
    )


def rows(engine: sa.Engine, order_id: str) -> tuple[int, int, int]:
    with engine.connect() as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(
                sa.text(
                    "SELECT (SELECT count(*) FROM payments WHERE order_id = :o),"
                    " (SELECT count(*) FROM refunds WHERE order_id = :o),"
                    " (SELECT count(*) FROM financial_documents"
                    "  WHERE order_id = :o AND kind = 'credit_memo')"
                ),
                {"o": order_id},
            ).one()
        )


async def test_a_refund_waiting_on_a_capture_in_flight_sees_its_money(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    """The capture holds the order's lock while its payment row waits (the test holds the
    same transaction id for another order, uncommitted); the refund waits on the
    capture's lock — pg_blocking_pids names the capture's backend. Released, the capture
    commits first and the refund is made from its money."""
    order_id, shipment = await invoiced(client, keys, "RACE-1")
    other = await placed(client, keys, "RACE-1-OTHER")
    hold = Held(
        engine,
        "INSERT INTO payments (id, order_id, kind, transaction_id, source, amount_minor, currency)"
        " VALUES (:id, :o, 'capture', 'CAP-RACE', 'test', 1, 'EUR')",
        id=uuid.uuid4(),
        o=other["id"],
    )
    racing: list[asyncio.Task[Any]] = []
    try:
        racing.append(capture(client, keys, order_id, shipment))
        pids = await until(engine, "INSERT INTO payments")
        racing.append(refund(client, keys, order_id, "R-RACE", "20.00"))
        pids |= await until(engine, "INSERT INTO payments", "FROM orders")
        assert blockers(engine, pids["INSERT INTO payments"]) == [hold.pid]
        assert blockers(engine, pids["FROM orders"]) == [pids["INSERT INTO payments"]]
        assert not any(t.done() for t in racing)
    except BaseException:
        for task in racing:
            task.cancel()
        raise
    finally:
        hold.release()
    (captured, made), (refunded, given) = await asyncio.gather(*racing)

    assert (captured, refunded) == (201, 201), (made, given)
    figures = await money(client, keys, order_id)
    assert (figures["captured"], figures["refunded"], figures["credited"]) == (
        "42.93",
        "20.00",
        "20.00",
    )
    assert rows(engine, order_id) == (1, 1, 1)
    assert broken(engine, order_id) == []


async def test_a_refund_racing_a_capture_one_winner_nothing_half_written(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    """The refund needs the capture's money. Both wait on the order's lock (the test holds
    it), the refund first: it finds nothing captured and is refused whole — no refund row,
    no credit memo, no figure moved; the capture then commits."""
    order_id, shipment = await invoiced(client, keys, "RACE-2")
    hold = Held(engine, "SELECT id FROM orders WHERE id = :o FOR UPDATE", o=order_id)
    racing: list[asyncio.Task[Any]] = []
    try:
        racing.append(refund(client, keys, order_id, "R-RACE", "20.00"))
        first = await until(engine, "FROM orders")
        racing.append(capture(client, keys, order_id, shipment))
        for _ in range(600):  # the capture queues behind the refund
            queued = [p for p, q in waiting(engine).items() if "FROM orders" in q]
            if len(queued) == 2:
                break
            await asyncio.sleep(0.05)
        assert len(queued) == 2 and first["FROM orders"] in queued
        assert not any(t.done() for t in racing)
    except BaseException:
        for task in racing:
            task.cancel()
        raise
    finally:
        hold.release()
    (refunded, refused), (captured, made) = await asyncio.gather(*racing)

    assert (refunded, captured) == (409, 201), (refused, made)
    assert refused["captured"] == "0.00"
    figures = await money(client, keys, order_id)
    assert (figures["captured"], figures["refunded"]) == ("42.93", "0.00")
    assert rows(engine, order_id) == (1, 0, 0)  # the refused refund left no row, no memo
    assert broken(engine, order_id) == []


async def test_two_refunds_for_the_same_captured_money_have_one_winner(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    """Captured 42.93; two refunds of 30.00 queue on the order's lock together: one is
    made, the other finds 12.93 left and is refused whole."""
    order_id, shipment = await invoiced(client, keys, "RACE-3")
    status, _ = await capture(client, keys, order_id, shipment)
    assert status == 201
    hold = Held(engine, "SELECT id FROM orders WHERE id = :o FOR UPDATE", o=order_id)
    racing: list[asyncio.Task[Any]] = []
    try:
        racing = [refund(client, keys, order_id, f"R-{i}", "30.00") for i in range(2)]
        for _ in range(600):
            if sum("FROM orders" in q for q in waiting(engine).values()) == 2:
                break
            await asyncio.sleep(0.05)
        assert sum("FROM orders" in q for q in waiting(engine).values()) == 2
    except BaseException:
        for task in racing:
            task.cancel()
        raise
    finally:
        hold.release()
    results = await asyncio.gather(*racing)

    assert sorted(status for status, _ in results) == [201, 409]
    assert (await money(client, keys, order_id))["refunded"] == "30.00"
    assert rows(engine, order_id) == (1, 1, 1)
    assert broken(engine, order_id) == []
