"""Customers against real PostgreSQL: one per normalized e-mail across channels, upserted
in the order's own statement, customer.updated only when new or changed, and two first
orders of one new e-mail racing make one customer."""

from __future__ import annotations

import asyncio
import copy
import uuid
from typing import Any

import sqlalchemy as sa

from domain.customers import customer_id_for
from tests.factories import order_doc
from tests.integration.conftest import Keys, stock


def customer_events(engine: sa.Engine) -> list[tuple[str, int, dict[str, Any]]]:
    with engine.connect() as conn:
        return [
            (row.aggregate_id, row.aggregate_version, row.payload)
            for row in conn.execute(
                sa.text(
                    "SELECT aggregate_id, aggregate_version, payload FROM outbox_events"
                    " WHERE event_type = 'customer.updated' ORDER BY id"
                )
            )
        ]


def crm_deliveries(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.text(
                    "SELECT count(*) FROM outbox_deliveries d JOIN outbox_events e"
                    " USING (event_id) WHERE e.event_type = 'customer.updated'"
                    " AND d.destination = 'crm'"
                )
            ).scalar_one()
        )


def doc(external_id: str, sku: str = "A", **customer: Any) -> dict[str, Any]:
    """One unit of `sku`, placed at an hour of its own (C-3: 03:00)."""
    document = order_doc(external_id, [(sku, 1)])
    document["placed_at"] = f"2026-11-26T{int(external_id.split('-')[1]) % 24:02d}:00:00Z"
    document["customer"] = {**document["customer"], **customer}
    return document


async def place(client: Any, key: str, document: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/v1/orders", json=document, headers=Keys.bearer(key))
    body = await response.json()
    assert response.status == 201, body
    return dict(body)


async def test_one_customer_across_channels_updated_only_when_its_profile_changes(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    await stock(client, keys, {"sku": "A", "location": "WH-EAST", "set_on_hand": 10})
    first = await place(client, keys.web, doc("C-1"))
    same = await place(client, keys.pos, doc("C-2", email="  ANA@Example.com"))
    assert first["customer_id"] == same["customer_id"] == str(customer_id_for("ana@example.com"))
    [(customer_id, version, payload)] = customer_events(engine)  # the same profile: none more
    assert (customer_id, version) == (first["customer_id"], 1)
    assert payload["channel"] == "web" and payload["address"]["line1"] == "Rua Augusta 1"

    moved = doc("C-3", phone="+351919999999")
    moved["billing_address"] = {**moved["billing_address"], "line1": "Rua do Ouro 9"}
    await place(client, keys.pos, moved)
    events = customer_events(engine)
    assert [(v, p["phone"], p["channel"]) for _, v, p in events] == [
        (1, "+351910000000", "web"),
        (2, "+351919999999", "pos"),
    ]
    assert events[1][2]["address"]["line1"] == "Rua do Ouro 9"
    assert crm_deliveries(engine) == 2

    response = await client.get(
        f"/v1/customers/{first['customer_id']}", headers=Keys.bearer(keys.erp)
    )
    body = await response.json()
    assert response.status == 200, body
    assert (body["email"], body["phone"], body["version"], body["channel"]) == (
        "ana@example.com",
        "+351919999999",
        2,
        "pos",
    )
    assert body["order_count"] == 3
    assert [(o["channel"], o["external_id"]) for o in body["orders"]] == [
        ("pos", "C-3"),  # newest first
        ("pos", "C-2"),
        ("web", "C-1"),
    ]
    assert body["orders"][0].keys() == {
        "id",
        "channel",
        "external_id",
        "status",
        "placed_at",
        "currency",
        "grand_total",
    }
    assert {o["grand_total"] for o in body["orders"]} == {"16.03"}


async def test_a_customers_orders_are_newest_first_at_most_100_with_their_count(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    await stock(client, keys, {"sku": "A", "location": "WH-EAST", "set_on_hand": 1000})
    for i in range(102):
        document = doc(f"N-{i:03d}")
        document["placed_at"] = f"2026-11-{1 + i // 24:02d}T{i % 24:02d}:00:00Z"
        await place(client, keys.web, document)
    customer_id = customer_id_for("ana@example.com")
    body = await (
        await client.get(f"/v1/customers/{customer_id}", headers=Keys.bearer(keys.admin))
    ).json()
    assert body["order_count"] == 102
    assert len(body["orders"]) == 100
    assert [o["external_id"] for o in body["orders"]][:3] == ["N-101", "N-100", "N-099"]
    assert body["orders"][-1]["external_id"] == "N-002"


async def test_an_unknown_or_malformed_customer_is_a_404_and_channels_may_not_ask(
    client: Any, keys: Keys
) -> None:
    for customer_id in (str(uuid.uuid4()), "ana@example.com", "1"):
        response = await client.get(f"/v1/customers/{customer_id}", headers=Keys.bearer(keys.erp))
        assert response.status == 404
        assert response.content_type == "application/problem+json"
    forbidden = await client.get(f"/v1/customers/{uuid.uuid4()}", headers=Keys.bearer(keys.web))
    assert forbidden.status == 403


def waiting_on_customers(engine: sa.Engine) -> int:
    """Order inserts of this test's database waiting on a lock: the customer's row, the
    only one the statement can wait for (pg_stat_activity shows the statement's first
    1,024 bytes: its start, the order's insert)."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock'"
                    " AND query ILIKE '%WITH o AS (%INSERT INTO orders%'"
                )
            ).scalar_one()
        )


async def test_two_first_orders_of_one_new_email_racing_make_one_customer(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    """The test inserts the e-mail's customer row itself and keeps it uncommitted: both
    orders (other SKUs, other channels: nothing else serializes them) reach their customer
    upsert and wait on that unique-index entry, seen in pg_stat_activity. Rolled back, the
    two race for the insert: one inserts, the other finds it and changes nothing."""
    await stock(
        client,
        keys,
        {"sku": "A", "location": "WH-EAST", "set_on_hand": 5},
        {"sku": "B", "location": "WH-EAST", "set_on_hand": 5},
    )
    email = "new@example.com"
    blocker = engine.connect()
    transaction = blocker.begin()
    blocker.execute(
        sa.text(
            "INSERT INTO customers (id, email, name, channel) VALUES (:id, :email, 'x', 'web')"
        ),
        {"id": customer_id_for(email), "email": email},
    )
    racing = [
        asyncio.create_task(place(client, keys.web, doc("R-1", "A", email=email))),
        asyncio.create_task(place(client, keys.pos, doc("R-2", "B", email=email))),
    ]
    try:
        for _ in range(600):  # a bound on the requests arriving, not a timing
            if waiting_on_customers(engine) == 2:
                break
            await asyncio.sleep(0.05)
        assert waiting_on_customers(engine) == 2
        assert not any(task.done() for task in racing)
    except BaseException:
        for task in racing:
            task.cancel()
        raise
    finally:
        transaction.rollback()
        blocker.close()
    orders = await asyncio.gather(*racing)

    assert {o["customer_id"] for o in orders} == {str(customer_id_for(email))}
    with engine.connect() as conn:
        rows = list(conn.execute(sa.text("SELECT name, version FROM customers")))
    assert rows == [("Ana Silva", 1)]
    assert len(customer_events(engine)) == 1


async def test_a_duplicate_order_upserts_no_customer(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    await stock(client, keys, {"sku": "A", "location": "WH-EAST", "set_on_hand": 5})
    document = doc("D-1")
    await place(client, keys.web, document)
    changed = copy.deepcopy(document)
    changed["customer"]["name"] = "Someone Else"
    response = await client.post("/v1/orders", json=changed, headers=Keys.bearer(keys.web))
    assert response.status == 409  # the same external id with other content
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT name FROM customers")).scalar_one() == "Ana Silva"
    assert len(customer_events(engine)) == 1


async def test_a_known_customers_orders_never_wait_on_its_row_unless_they_change_it(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    """The test holds the customer's row as a profile change does (FOR NO KEY UPDATE): an
    order with the same profile goes through (nothing to write, and the foreign key's
    KEY SHARE does not conflict); one that changes the profile waits for the row (seen in
    pg_stat_activity) and is applied once it is free."""
    await stock(client, keys, {"sku": "A", "location": "WH-EAST", "set_on_hand": 5})
    await place(client, keys.web, doc("K-1"))
    holder = engine.connect()
    transaction = holder.begin()
    holder.execute(sa.text("SELECT id FROM customers FOR NO KEY UPDATE"))
    try:
        same = await asyncio.wait_for(place(client, keys.pos, doc("K-2")), 30)
        assert same["customer_id"] == str(customer_id_for("ana@example.com"))
        changing = asyncio.create_task(place(client, keys.web, doc("K-3", name="Ana Maria")))
        for _ in range(600):  # a bound on the request arriving, not a timing
            if waiting_on_customers(engine) == 1:
                break
            await asyncio.sleep(0.05)
        assert waiting_on_customers(engine) == 1 and not changing.done()
    finally:
        transaction.rollback()
        holder.close()
    await changing
    assert [(v, p["name"]) for _, v, p in customer_events(engine)] == [
        (1, "Ana Silva"),
        (2, "Ana Maria"),
    ]
