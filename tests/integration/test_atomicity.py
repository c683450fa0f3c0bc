"""Invariant 1: an order, its reservations, its outbox rows and its ledger rows commit together
or not at all."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from adapters.db.inventory_repository import SqlInventoryRepository
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
