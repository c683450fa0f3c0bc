"""Invariant 1: a change, its outbox rows and its ledger rows commit together or not at all.

The tests that tell one transaction from two fail the write in the database itself, with
triggers created in the test's own database, so the product runs unchanged:

- the outbox insert is refused (a BEFORE INSERT trigger on outbox_events) after the
  change's own rows were written: nothing of the change may survive — an outbox written
  in a transaction of its own, after the change's commit, leaves the change behind;
- only the change's own COMMIT fails (a DEFERRABLE INITIALLY DEFERRED constraint trigger
  on a table the change writes, which runs at COMMIT): no outbox or ledger row may
  survive — an outbox committed in a transaction of its own, before the change's, leaves
  its rows behind.

Each writer of events (placing an order, adjusting stock, recording a shipment) is one
entry of WRITERS; a service that writes events is added there.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from adapters.db.inventory_repository import SqlInventoryRepository
from tests.db_state import every_row
from tests.factories import order_doc
from tests.integration.conftest import Keys, stock

TABLES = ("orders", "order_lines", "reservations", "outbox_events", "outbox_deliveries")


def counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}


def reserved(engine: sa.Engine, sku: str) -> int:
    with engine.connect() as conn:
        query = sa.text("SELECT coalesce(sum(reserved), 0) FROM stock WHERE sku = :s")
        return int(conn.execute(query, {"s": sku}).scalar_one())


async def test_a_failure_at_commit_time_leaves_no_order_reservation_outbox_or_ledger_row(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    await stock(client, keys, {"sku": "A", "location": "WH-EAST", "set_on_hand": 5})
    before = counts(engine)

    # Everything has been written (order, lines, reservations, stock, outbox, ledger):
    # the failure comes at the last moment, just before COMMIT is sent.
    def fail_before_commit(conn: sa.Connection) -> None:
        raise RuntimeError("injected failure before commit")

    event.listen(engine, "commit", fail_before_commit)
    try:
        response = await client.post(
            "/v1/orders", json=order_doc("ATOM-1", [("A", 2)]), headers=Keys.bearer(keys.web)
        )
    finally:
        event.remove(engine, "commit", fail_before_commit)
    assert response.status == 500
    assert response.content_type == "application/problem+json"
    assert "injected" not in await response.text()
    assert counts(engine) == before
    assert reserved(engine, "A") == 0

    # The same order goes through afterwards, exactly once.
    response = await client.post(
        "/v1/orders", json=order_doc("ATOM-1", [("A", 2)]), headers=Keys.bearer(keys.web)
    )
    assert response.status == 201
    assert counts(engine)["orders"] == before["orders"] + 1
    assert reserved(engine, "A") == 2


async def test_a_failure_between_the_order_insert_and_the_outbox_rolls_everything_back(
    client: Any, keys: Keys, engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    await stock(client, keys, {"sku": "A", "location": "WH-EAST", "set_on_hand": 5})
    before = counts(engine)

    def broken(self: SqlInventoryRepository, levels: Any) -> None:
        raise RuntimeError("injected failure after the order insert")

    monkeypatch.setattr(SqlInventoryRepository, "save_levels", broken)
    response = await client.post(
        "/v1/orders", json=order_doc("ATOM-2", [("A", 1)]), headers=Keys.bearer(keys.web)
    )
    assert response.status == 500
    assert counts(engine) == before
    assert reserved(engine, "A") == 0


# -- failures injected by the database: one transaction or two --------------------------

# What the failing transaction could see when it failed, carried out in the error message
# (the transaction's own effects are rolled back, so its message is the only witness).
_WITNESS = """json_build_object(
    'orders', (SELECT count(*) FROM orders),
    'shipments', (SELECT count(*) FROM shipments),
    'on_hand', (SELECT coalesce(sum(on_hand), 0) FROM stock),
    'reserved', (SELECT coalesce(sum(reserved), 0) FROM stock),
    'outbox_events', (SELECT count(*) FROM outbox_events),
    'outbox_deliveries', (SELECT count(*) FROM outbox_deliveries))::text"""
# (%% is a literal % for the driver, which formats parameters into this text.)
_FAILURE_FUNCTION = f"""
CREATE FUNCTION test_injected_failure() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'test-injected failure (%%) %%', TG_NAME, {_WITNESS};
END $$"""
_WITNESS_SQL = f"SELECT {_WITNESS}"


def refuse_outbox_inserts(conn: sa.Connection, table: str) -> None:
    """Every INSERT into outbox_events fails (`table` unused: the outbox is the target)."""
    conn.exec_driver_sql(
        "CREATE TRIGGER test_refuse_outbox BEFORE INSERT ON outbox_events "
        "FOR EACH ROW EXECUTE FUNCTION test_injected_failure()"
    )


def fail_own_commit(conn: sa.Connection, table: str) -> None:
    """A transaction that wrote `table` fails at its COMMIT (the deferred trigger runs then),
    and only that transaction: one that writes only the outbox commits."""
    conn.exec_driver_sql(
        f"CREATE CONSTRAINT TRIGGER test_fail_commit AFTER INSERT OR UPDATE ON {table} "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION test_injected_failure()"
    )


FAILURES: dict[str, Callable[[sa.Connection, str], None]] = {
    "outbox-insert-refused": refuse_outbox_inserts,
    "own-commit-fails": fail_own_commit,
}


@dataclass(frozen=True)
class Writer:
    """A service that writes events: how to get ready for it, and one call of it."""

    name: str
    table: str  # a table its change writes (the deferred trigger's)
    witness: str  # the key of _WITNESS that its change moves
    prepare: Callable[[Any, Keys], Awaitable[dict[str, Any]]]
    request: Callable[[dict[str, Any]], tuple[str, dict[str, Any], str]]  # path, body, key
    created: int  # the status of a successful call


async def _stocked(client: Any, keys: Keys) -> dict[str, Any]:
    await stock(client, keys, {"sku": "A", "location": "WH-EAST", "set_on_hand": 5})
    return {"admin": keys.admin, "web": keys.web}


async def _with_order(client: Any, keys: Keys) -> dict[str, Any]:
    context = await _stocked(client, keys)
    response = await client.post(
        "/v1/orders", json=order_doc("ATOM-HELD", [("A", 4)]), headers=Keys.bearer(keys.web)
    )
    assert response.status == 201
    context["order_id"] = (await response.json())["id"]
    return context


WRITERS = [
    Writer(
        "place-order",
        "orders",
        "orders",
        _stocked,
        lambda c: ("/v1/orders", order_doc("ATOM-3", [("A", 2)]), c["web"]),
        201,
    ),
    Writer(
        # A shrink below what is reserved: stock rows, the order it takes back, and events
        # for both the SKU and the order.
        "adjust-inventory",
        "stock",
        "on_hand",
        _with_order,
        lambda c: (
            "/v1/inventory/adjustments",
            {"adjustments": [{"sku": "A", "location": "WH-EAST", "set_on_hand": 1}]},
            c["admin"],
        ),
        200,
    ),
    Writer(
        "record-shipment",
        "shipments",
        "shipments",
        _with_order,
        lambda c: (
            "/v1/shipments",
            {
                "order_id": c["order_id"],
                "location": "WH-EAST",
                "carrier": "DHL",
                "tracking_number": "ATOM-T1",
                "lines": [{"sku": "A", "quantity": 2}],
            },
            c["admin"],
        ),
        201,
    ),
]


@pytest.fixture
def driver_errors(engine: sa.Engine) -> Iterator[list[str]]:
    """The messages of the driver errors the engine raises while the test runs."""
    seen: list[str] = []

    def record(context: Any) -> None:
        seen.append(str(context.original_exception))

    event.listen(engine, "handle_error", record)
    yield seen
    event.remove(engine, "handle_error", record)


def witness(message: str) -> dict[str, int]:
    """What the failing transaction saw, from the trigger's message."""
    found = re.search(r"test-injected failure \((\w+)\) (\{.*?\})", message)
    assert found, f"not the injected failure: {message}"
    return dict(json.loads(found.group(2)))


@pytest.mark.parametrize("failure", FAILURES)
@pytest.mark.parametrize("writer", WRITERS, ids=lambda w: w.name)
async def test_a_change_and_its_outbox_rows_commit_in_one_transaction(
    client: Any,
    keys: Keys,
    engine: sa.Engine,
    driver_errors: list[str],
    writer: Writer,
    failure: str,
) -> None:
    """Whichever write fails — the outbox insert after the change's rows, or only the
    change's own COMMIT — nothing of the change, its outbox rows or its ledger rows
    survives; and the same call succeeds, once, when the database lets it."""
    context = await writer.prepare(client, keys)
    before = every_row(engine)
    with engine.connect() as conn:
        seen_before = json.loads(conn.exec_driver_sql(_WITNESS_SQL).scalar_one())
    with engine.begin() as conn:
        conn.exec_driver_sql(_FAILURE_FUNCTION)
        FAILURES[failure](conn, writer.table)

    path, body, key = writer.request(context)
    response = await client.post(path, json=body, headers=Keys.bearer(key))
    assert response.status == 500, await response.text()
    assert response.content_type == "application/problem+json"
    assert "injected" not in await response.text()

    after = every_row(engine)
    assert {t: rows for t, rows in after.items() if rows != before[t]} == {}

    # The failure came where it was meant to: the change's own rows were already written
    # in the failing transaction, and at COMMIT its outbox rows were too. (An outbox in a
    # transaction of its own fails here where the comparison above cannot see it: its
    # insert runs without the change's rows, or the change commits without outbox rows.)
    injected = [m for m in driver_errors if "test-injected failure" in m]
    assert len(injected) == 1, driver_errors
    seen = witness(injected[0])
    assert seen[writer.witness] != seen_before[writer.witness], (seen, seen_before)
    if failure == "own-commit-fails":
        assert seen["outbox_events"] > seen_before["outbox_events"], (seen, seen_before)
        assert seen["outbox_deliveries"] > seen_before["outbox_deliveries"], (seen, seen_before)

    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS test_refuse_outbox ON outbox_events")
        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS test_fail_commit ON {writer.table}")
    response = await client.post(path, json=body, headers=Keys.bearer(key))
    assert response.status == writer.created, await response.text()
    done = every_row(engine)
    assert len(done["outbox_events"]) > len(before["outbox_events"])
    assert len(done["outbox_deliveries"]) > len(before["outbox_deliveries"])
