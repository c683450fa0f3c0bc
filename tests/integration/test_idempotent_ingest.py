"""The same order again is the same order: concurrent twins, Idempotency-Key, normalized content."""

from __future__ import annotations

import asyncio
import copy
import json
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from tests.factories import CONTRACT_ORDER
from tests.integration.conftest import Keys, stock

PROBLEM = "application/problem+json"


def counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            table: conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in (
                "orders",
                "order_lines",
                "reservations",
                "outbox_events",
                "outbox_deliveries",
            )
        }


def ledger_of(engine: sa.Engine, order_id: str) -> list[tuple[str, str, int]]:
    """(event_type, destination, sequence) of the order's own outbox rows."""
    with engine.connect() as conn:
        return [
            tuple(row)  # type: ignore[misc]
            for row in conn.execute(
                sa.text(
                    "SELECT e.event_type, d.destination, d.sequence"
                    " FROM outbox_events e JOIN outbox_deliveries d USING (event_id)"
                    " WHERE e.aggregate_type = 'order' AND e.aggregate_id = :o"
                    " ORDER BY e.id, d.destination"
                ),
                {"o": order_id},
            )
        ]


def reserved(engine: sa.Engine, sku: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.text("SELECT coalesce(sum(reserved), 0) FROM stock WHERE sku = :s"), {"s": sku}
            ).scalar_one()
        )


async def post(client: Any, doc: Any, key: str, idempotency_key: str | None = None) -> Any:
    headers = Keys.bearer(key)
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    return await client.post("/v1/orders", json=doc, headers=headers)


@pytest.fixture
async def stocked(client: Any, keys: Keys) -> None:
    await stock(client, keys, {"sku": "TEE-M-BLK", "location": "WH-EAST", "set_on_hand": 100})


async def _problem(response: Any, status: int) -> dict[str, Any]:
    text = await response.text()
    assert response.status == status, text
    assert response.content_type == PROBLEM
    assert "Traceback" not in text
    body: dict[str, Any] = json.loads(text)
    assert body["status"] == status and body["type"] and body["title"]
    return body


@pytest.mark.parametrize("idempotency_key", [None, "order-web-10001"])
async def test_the_same_order_twenty_times_at_once_is_created_exactly_once(
    client: Any, keys: Keys, engine: sa.Engine, stocked: None, idempotency_key: str | None
) -> None:
    before = counts(engine)
    responses = await asyncio.gather(
        *(post(client, CONTRACT_ORDER, keys.web, idempotency_key) for _ in range(20))
    )
    bodies = [await r.json() for r in responses]
    statuses = sorted(r.status for r in responses)
    assert statuses == [200] * 19 + [201], bodies
    assert len({b["id"] for b in bodies}) == 1
    assert all(r.headers["Location"] == f"/v1/orders/{bodies[0]['id']}" for r in responses)
    after = counts(engine)
    # One order, one line, one reservation; two order events (accepted, allocated), one
    # stock event and its new customer's; deliveries: accepted → erp, crm, channel:web;
    # allocated → wms; inventory.changed → channel:pos, channel:web; customer.updated → crm.
    assert {table: after[table] - before[table] for table in after} == {
        "orders": 1,
        "order_lines": 1,
        "reservations": 1,
        "outbox_events": 4,
        "outbox_deliveries": 7,
    }
    assert ledger_of(engine, bodies[0]["id"]) == [
        ("order.accepted", "channel:web", 1),
        ("order.accepted", "crm", 1),
        ("order.accepted", "erp", 1),
        ("order.allocated", "wms", 1),
    ]
    assert reserved(engine, "TEE-M-BLK") == 2


async def test_the_same_idempotency_key_with_the_same_content_returns_the_same_order(
    client: Any, keys: Keys, engine: sa.Engine, stocked: None
) -> None:
    first = await post(client, CONTRACT_ORDER, keys.web, "key-1")
    created = await first.json()
    assert first.status == 201, created
    before = counts(engine)
    again = await post(client, CONTRACT_ORDER, keys.web, "key-1")
    body = await again.json()
    assert again.status == 200, body
    assert body == created
    assert counts(engine) == before
    assert reserved(engine, "TEE-M-BLK") == 2


async def test_the_same_idempotency_key_with_other_content_is_a_409_problem(
    client: Any, keys: Keys, engine: sa.Engine, stocked: None
) -> None:
    first = await post(client, CONTRACT_ORDER, keys.web, "key-1")
    created = await first.json()
    assert first.status == 201, created
    before = counts(engine)
    other = copy.deepcopy(CONTRACT_ORDER)
    other["external_id"] = "WEB-10002"
    other["lines"][0]["quantity"] = 3
    other["totals"]["grand_total"] = other["payment"]["amount"] = "74.88"
    response = await post(client, other, keys.web, "key-1")
    body = await _problem(response, 409)
    assert "Idempotency-Key" in body["detail"]
    assert body["order_id"] == created["id"]
    assert counts(engine) == before
    assert reserved(engine, "TEE-M-BLK") == 2


async def test_a_new_idempotency_key_on_the_same_external_id_and_content_is_the_same_order(
    client: Any, keys: Keys, engine: sa.Engine, stocked: None
) -> None:
    first = await post(client, CONTRACT_ORDER, keys.web, "key-1")
    created = await first.json()
    before = counts(engine)
    again = await post(client, CONTRACT_ORDER, keys.web)
    assert again.status == 200
    assert (await again.json())["id"] == created["id"]
    assert counts(engine) == before


async def test_the_same_external_id_with_other_content_is_a_409_problem(
    client: Any, keys: Keys, engine: sa.Engine, stocked: None
) -> None:
    first = await post(client, CONTRACT_ORDER, keys.web)
    created = await first.json()
    assert first.status == 201, created
    before = counts(engine)
    other = copy.deepcopy(CONTRACT_ORDER)
    other["shipping_address"]["line1"] = "Rua Augusta 2"
    response = await post(client, other, keys.web)
    body = await _problem(response, 409)
    assert "WEB-10001" in body["detail"]
    assert body["order_id"] == created["id"]
    assert counts(engine) == before


async def test_the_same_external_id_from_another_channel_is_another_order(
    client: Any, keys: Keys, engine: sa.Engine, stocked: None
) -> None:
    web = await post(client, CONTRACT_ORDER, keys.web)
    pos = await post(client, CONTRACT_ORDER, keys.pos)
    assert (web.status, pos.status) == (201, 201)
    assert (await web.json())["id"] != (await pos.json())["id"]
    assert counts(engine)["orders"] == 2


def _reformatted(variant: str) -> dict[str, Any]:
    doc = copy.deepcopy(CONTRACT_ORDER)
    if variant == "trailing zeros dropped":
        doc["lines"][0]["unit_price"] = "19.9"
        doc["lines"][0]["discount"] = "0"
        doc["shipping"]["amount"] = "4.9"
        doc["totals"]["grand_total"] = "54.980"
    elif variant == "JSON numbers":
        doc["lines"][0]["unit_price"] = Decimal("19.9")
        doc["shipping"]["amount"] = Decimal("4.90")
        doc["payment"]["amount"] = Decimal("54.98")
        doc["totals"]["grand_total"] = Decimal("54.98")
    elif variant == "email case":
        doc["customer"]["email"] = "Ana@Example.COM"
    elif variant == "surrounding spaces":
        doc["customer"]["email"] = " ana@example.com "
        doc["customer"]["name"] = "Ana Silva  "
    elif variant == "same instant in another zone":
        doc["placed_at"] = "2026-11-26T11:00:00+01:00"
    else:
        raise AssertionError(variant)
    return doc


def _dumps(doc: Any) -> str:
    """JSON with Decimals written as JSON numbers, digit for digit."""

    text = json.dumps(doc, default=lambda d: f"@@{d}@@")
    return text.replace('"@@', "").replace('@@"', "")


@pytest.mark.parametrize(
    "variant",
    [
        "trailing zeros dropped",
        "JSON numbers",
        "email case",
        "surrounding spaces",
        "same instant in another zone",
    ],
)
async def test_the_same_content_formatted_differently_is_the_same_order(
    client: Any, keys: Keys, engine: sa.Engine, stocked: None, variant: str
) -> None:
    first = await post(client, CONTRACT_ORDER, keys.web)
    created = await first.json()
    assert first.status == 201, created
    before = counts(engine)
    raw = _dumps(_reformatted(variant))
    assert raw != json.dumps(CONTRACT_ORDER)
    headers = {**Keys.bearer(keys.web), "Content-Type": "application/json"}
    again = await client.post("/v1/orders", data=raw, headers=headers)
    body = await again.json()
    assert again.status == 200, body
    assert body["id"] == created["id"]
    assert counts(engine) == before
    assert reserved(engine, "TEE-M-BLK") == 2


async def test_the_same_content_formatted_differently_under_one_idempotency_key_is_the_same_order(
    client: Any, keys: Keys, engine: sa.Engine, stocked: None
) -> None:
    first = await post(client, CONTRACT_ORDER, keys.web, "key-9")
    created = await first.json()
    before = counts(engine)
    raw = _dumps(_reformatted("trailing zeros dropped"))
    headers = {
        **Keys.bearer(keys.web),
        "Content-Type": "application/json",
        "Idempotency-Key": "key-9",
    }
    again = await client.post("/v1/orders", data=raw, headers=headers)
    assert again.status == 200, await again.text()
    assert (await again.json())["id"] == created["id"]
    assert counts(engine) == before


async def test_a_key_already_used_for_one_order_conflicts_even_if_the_content_matches_another(
    client: Any, keys: Keys, engine: sa.Engine, stocked: None
) -> None:
    """Order A was sent with key K-A, order B with K-B. A's content again under K-B reuses
    B's key for other content: 409, whichever row the look-up happens to meet first."""
    first = copy.deepcopy(CONTRACT_ORDER)
    first["external_id"] = "A"
    second = copy.deepcopy(CONTRACT_ORDER)
    second["external_id"] = "B"
    a = await post(client, first, keys.web, "K-A")
    b = await post(client, second, keys.web, "K-B")
    assert (a.status, b.status) == (201, 201)
    b_id = (await b.json())["id"]
    before = counts(engine)
    response = await post(client, first, keys.web, "K-B")
    body = await _problem(response, 409)
    assert "Idempotency-Key" in body["detail"]
    assert body["order_id"] == b_id
    assert counts(engine) == before
