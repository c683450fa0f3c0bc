"""The read side: one order, look-ups, the paginated change feed, stock, health and OpenAPI."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from adapters.http.app import init_app
from adapters.http.keys import HttpConfig
from ops.wiring import ROUTING
from tests.factories import CONTRACT_ORDER, order_doc
from tests.integration.conftest import ADMIN_TOKEN, Keys, stock

PROBLEM = "application/problem+json"


async def problem_of(response: Any, status: int) -> dict[str, Any]:
    text = await response.text()
    assert response.status == status, text
    assert response.content_type == PROBLEM, text
    assert "Traceback" not in text
    body: dict[str, Any] = json.loads(text)
    assert body["status"] == status and body["type"] and body["title"], body
    return body


async def place(
    client: Any, key: str, external_id: str, sku: str = "A", email: str | None = None
) -> dict[str, Any]:
    document = order_doc(external_id, [(sku, 1)])
    if email is not None:
        document["customer"]["email"] = email
    response = await client.post("/v1/orders", json=document, headers=Keys.bearer(key))
    body: dict[str, Any] = await response.json()
    assert response.status == 201, body
    return body


@pytest.fixture
async def stocked(client: Any, keys: Keys) -> None:
    await stock(client, keys, {"sku": "A", "location": "WH-EAST", "set_on_hand": 100})


async def test_a_channel_reads_its_own_order_as_it_was_returned_when_created(
    client: Any, keys: Keys, stocked: None
) -> None:
    created = await place(client, keys.web, "W-1")
    response = await client.get(f"/v1/orders/{created['id']}", headers=Keys.bearer(keys.web))
    assert response.status == 200
    assert response.content_type == "application/json"
    assert await response.json() == created


@pytest.mark.parametrize("who", ["erp", "admin"])
async def test_a_system_or_the_admin_reads_any_channels_order(
    client: Any, keys: Keys, stocked: None, who: str
) -> None:
    created = await place(client, keys.pos, "P-1")
    response = await client.get(
        f"/v1/orders/{created['id']}", headers=Keys.bearer(getattr(keys, who))
    )
    assert response.status == 200
    assert (await response.json())["id"] == created["id"]


async def test_another_channels_order_is_forbidden(client: Any, keys: Keys, stocked: None) -> None:
    created = await place(client, keys.web, "W-1")
    response = await client.get(f"/v1/orders/{created['id']}", headers=Keys.bearer(keys.pos))
    body = await problem_of(response, 403)
    assert "W-1" not in json.dumps(body)


@pytest.mark.parametrize("order_id", ["not-a-uuid", "123", str(uuid.uuid4())])
async def test_a_malformed_or_unknown_order_id_is_not_found(
    client: Any, keys: Keys, order_id: str
) -> None:
    response = await client.get(f"/v1/orders/{order_id}", headers=Keys.bearer(keys.web))
    await problem_of(response, 404)


async def test_reading_an_order_needs_a_key(client: Any, keys: Keys, stocked: None) -> None:
    created = await place(client, keys.web, "W-1")
    response = await client.get(f"/v1/orders/{created['id']}")
    await problem_of(response, 401)


async def test_an_order_is_found_by_channel_and_external_id(
    client: Any, keys: Keys, stocked: None
) -> None:
    web = await place(client, keys.web, "SAME-1")
    pos = await place(client, keys.pos, "SAME-1")
    await place(client, keys.web, "OTHER-1")

    response = await client.get(
        "/v1/orders",
        params={"channel": "web", "external_id": "SAME-1"},
        headers=Keys.bearer(keys.web),
    )
    body = await response.json()
    assert response.status == 200, body
    assert [o["id"] for o in body["items"]] == [web["id"]]
    assert body["next_cursor"] is None

    # A channel's search is scoped to its own orders even without ?channel=.
    response = await client.get(
        "/v1/orders", params={"external_id": "SAME-1"}, headers=Keys.bearer(keys.pos)
    )
    assert [o["id"] for o in (await response.json())["items"]] == [pos["id"]]

    # A system sees every channel, or the one it names.
    response = await client.get(
        "/v1/orders", params={"external_id": "SAME-1"}, headers=Keys.bearer(keys.erp)
    )
    assert {o["id"] for o in (await response.json())["items"]} == {web["id"], pos["id"]}
    response = await client.get(
        "/v1/orders",
        params={"channel": "pos", "external_id": "SAME-1"},
        headers=Keys.bearer(keys.erp),
    )
    assert [o["id"] for o in (await response.json())["items"]] == [pos["id"]]

    response = await client.get(
        "/v1/orders",
        params={"channel": "web", "external_id": "NOPE"},
        headers=Keys.bearer(keys.web),
    )
    assert (await response.json()) == {"items": [], "next_cursor": None}


async def test_a_channel_asking_for_another_channels_orders_is_forbidden(
    client: Any, keys: Keys, stocked: None
) -> None:
    await place(client, keys.web, "W-1")
    for params in (
        {"channel": "web", "external_id": "W-1"},
        {"channel": "web", "updated_since": "2000-01-01T00:00:00Z"},
    ):
        response = await client.get("/v1/orders", params=params, headers=Keys.bearer(keys.pos))
        body = await problem_of(response, 403)
        assert "W-1" not in json.dumps(body)


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "-5"},
        {"limit": "ten"},
        {"cursor": "not-a-cursor"},
        {"updated_since": "last tuesday"},
    ],
)
async def test_bad_list_parameters_are_a_400_problem(
    client: Any, keys: Keys, params: dict[str, str]
) -> None:
    response = await client.get("/v1/orders", params=params, headers=Keys.bearer(keys.web))
    await problem_of(response, 400)


async def _page_through(
    client: Any, key: str, params: dict[str, str]
) -> tuple[list[str], list[int], list[dict[str, Any]]]:
    ids: list[str] = []
    sizes: list[int] = []
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(20):
        query = dict(params, **({"cursor": cursor} if cursor else {}))
        response = await client.get("/v1/orders", params=query, headers=Keys.bearer(key))
        body = await response.json()
        assert response.status == 200, body
        sizes.append(len(body["items"]))
        items.extend(body["items"])
        ids.extend(o["id"] for o in body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return ids, sizes, items
    raise AssertionError("the feed never ended")


def _feed_order(engine: sa.Engine, channel: str | None = None) -> list[str]:
    query = "SELECT id FROM orders"
    if channel:
        query += " WHERE channel = :c"
    with engine.connect() as conn:
        # The feed's order: the writing transaction (commit-safe), not updated_at.
        rows = conn.execute(sa.text(query + " ORDER BY change_seq, id"), {"c": channel})
        return [str(i) for i in rows.scalars()]


async def test_paging_through_25_orders_ten_at_a_time_returns_each_once_in_stable_order(
    client: Any, keys: Keys, engine: sa.Engine, stocked: None
) -> None:
    start = datetime.now(UTC) - timedelta(seconds=1)
    created = await asyncio.gather(*(place(client, keys.web, f"W-{i:02}") for i in range(25)))
    ids, sizes, _items = await _page_through(
        client, keys.web, {"updated_since": start.isoformat(), "limit": "10"}
    )
    assert sizes == [10, 10, 5]
    assert len(ids) == len(set(ids)) == 25
    assert set(ids) == {o["id"] for o in created}
    assert ids == _feed_order(engine)


async def test_paging_is_exact_when_many_orders_share_one_updated_at(
    client: Any, keys: Keys, engine: sa.Engine, stocked: None
) -> None:
    """Channels send one-second timestamps: ties must neither repeat nor skip an order."""
    created = [await place(client, keys.web, f"W-{i:02}") for i in range(25)]
    tie = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
    with engine.begin() as conn:  # three groups of ties: 9, 9 and 7 orders
        for i, order in enumerate(created):
            conn.execute(
                sa.text("UPDATE orders SET updated_at = :t WHERE id = :i"),
                {"t": tie + timedelta(seconds=i // 9), "i": order["id"]},
            )
    ids, sizes, _ = await _page_through(
        client, keys.web, {"updated_since": "2030-01-01T12:00:00Z", "limit": "10"}
    )
    assert sizes == [10, 10, 5]
    assert len(ids) == len(set(ids)) == 25
    assert ids == _feed_order(engine)


async def test_updated_since_leaves_out_older_orders(
    client: Any, keys: Keys, engine: sa.Engine, stocked: None
) -> None:
    old = [await place(client, keys.web, f"OLD-{i}") for i in range(3)]
    new = [await place(client, keys.web, f"NEW-{i}") for i in range(4)]
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE orders SET updated_at = now() - interval '2 days' WHERE id = ANY(:ids)"
            ),
            {"ids": [uuid.UUID(o["id"]) for o in old]},
        )
    since = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    ids, _, _ = await _page_through(client, keys.web, {"updated_since": since, "limit": "2"})
    assert sorted(ids) == sorted(o["id"] for o in new)


async def test_a_channels_feed_holds_only_its_own_orders(
    client: Any, keys: Keys, engine: sa.Engine, stocked: None
) -> None:
    for i in range(4):
        await place(client, keys.web, f"W-{i}")
        await place(client, keys.pos, f"P-{i}")
    ids, _, items = await _page_through(
        client, keys.pos, {"updated_since": "2000-01-01T00:00:00Z", "limit": "3"}
    )
    assert ids == _feed_order(engine, "pos")
    assert {o["channel"] for o in items} == {"pos"}
    ids, _, _ = await _page_through(
        client, keys.erp, {"updated_since": "2000-01-01T00:00:00Z", "limit": "3"}
    )
    assert ids == _feed_order(engine)


async def test_the_inventory_of_a_sku_has_the_shape_of_the_design_example(
    client: Any, keys: Keys
) -> None:
    adjustments = {
        "adjustments": [
            {"sku": "TEE-M-BLK", "location": "WH-EAST", "set_on_hand": 10, "reason": "cycle count"},
            {
                "sku": "TEE-M-BLK",
                "location": "STORE-LIS",
                "set_on_hand": 3,
                "reason": "cycle count",
            },
            {"sku": "TEE-M-BLK", "location": "STORE-LIS", "delta": -1, "reason": "damaged"},
        ]
    }
    response = await client.post(
        "/v1/inventory/adjustments", json=adjustments, headers=Keys.bearer(keys.erp)
    )
    assert response.status == 200, await response.text()
    expected = {
        "sku": "TEE-M-BLK",
        "atp": 12,
        "locations": [
            {"location": "WH-EAST", "on_hand": 10, "reserved": 0, "atp": 10},
            {"location": "STORE-LIS", "on_hand": 2, "reserved": 0, "atp": 2},
        ],
    }
    assert (await response.json()) == {"skus": [expected]}
    for key in (keys.web, keys.erp, keys.admin):
        response = await client.get("/v1/inventory/TEE-M-BLK", headers=Keys.bearer(key))
        assert response.status == 200
        assert response.content_type == "application/json"
        assert await response.json() == expected


async def test_the_inventory_of_a_sku_counts_reservations(client: Any, keys: Keys) -> None:
    await stock(client, keys, {"sku": "TEE-M-BLK", "location": "WH-EAST", "set_on_hand": 10})
    response = await client.post("/v1/orders", json=CONTRACT_ORDER, headers=Keys.bearer(keys.web))
    assert response.status == 201
    response = await client.get("/v1/inventory/TEE-M-BLK", headers=Keys.bearer(keys.web))
    assert await response.json() == {
        "sku": "TEE-M-BLK",
        "atp": 8,
        "locations": [{"location": "WH-EAST", "on_hand": 10, "reserved": 2, "atp": 8}],
    }


async def test_an_unknown_sku_is_not_found(client: Any, keys: Keys) -> None:
    response = await client.get("/v1/inventory/NO-SUCH-SKU", headers=Keys.bearer(keys.web))
    body = await problem_of(response, 404)
    assert "NO-SUCH-SKU" in body["detail"]


async def test_reading_inventory_needs_a_key(client: Any, keys: Keys) -> None:
    response = await client.get("/v1/inventory/TEE-M-BLK")
    await problem_of(response, 401)


async def test_health_and_readiness_answer_without_a_key(client: Any) -> None:
    response = await client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "ok"}
    response = await client.get("/readyz")
    assert response.status == 200
    assert (await response.json())["status"] == "ready"


async def test_openapi_lists_every_route(client: Any) -> None:
    response = await client.get("/openapi.json")
    assert response.status == 200
    spec = await response.json()
    assert spec["openapi"].startswith("3.")
    paths = spec["paths"]
    assert {"get", "post"} <= set(paths["/v1/orders"])
    assert "get" in paths["/v1/orders/{order_id}"]
    assert "post" in paths["/v1/inventory/adjustments"]
    assert "get" in paths["/v1/inventory/{sku}"]
    for path in ("/healthz", "/readyz", "/openapi.json"):
        assert "get" in paths[path], path
    # Every route the app serves is documented, with the same methods.
    served: dict[str, set[str]] = {}
    for route in client.app.router.routes():
        if route.method in ("HEAD", "OPTIONS"):
            continue
        info = route.resource.get_info()
        path = info.get("path") or info.get("formatter")
        served.setdefault(path, set()).add(route.method.lower())
    for path, methods in served.items():
        if path.startswith("/dashboard"):  # HTML for people, not the JSON API (ops/dashboard)
            continue
        assert path in paths, path
        assert methods <= set(paths[path]), (path, methods)
    body = paths["/v1/orders"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    schema = spec["components"]["schemas"][body["$ref"].rsplit("/", 1)[-1]]
    assert {"external_id", "lines", "totals"} <= set(schema["required"])


async def test_a_nul_character_in_a_lookup_is_a_client_error_not_a_500(
    client: Any, keys: Keys
) -> None:
    """PostgreSQL refuses U+0000 in text parameters: such a look-up can match nothing."""
    response = await client.get(
        "/v1/orders", params={"external_id": "W\x001"}, headers=Keys.bearer(keys.web)
    )
    await problem_of(response, 400)
    response = await client.get("/v1/inventory/A%00B", headers=Keys.bearer(keys.web))
    await problem_of(response, 400)


async def _lock_waiters(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
        )


async def test_an_order_that_commits_after_a_later_one_was_read_is_not_skipped_by_the_feed(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    """updated_at is taken at insert, not at commit. A feed reader that has already passed a
    later-stamped order must still receive the slower transaction's order when it commits."""
    await stock(
        client,
        keys,
        {"sku": "A", "location": "WH-EAST", "set_on_hand": 10},
        {"sku": "B", "location": "WH-EAST", "set_on_hand": 10},
    )
    start = datetime.now(UTC).isoformat()
    blocker = engine.connect()
    transaction = blocker.begin()
    # Hold A's outbox sequence counter: an order of A stamps its row, then waits at commit time.
    blocker.execute(
        sa.text(
            "SELECT * FROM outbox_sequences WHERE aggregate_type = 'sku' AND aggregate_id = 'A'"
            " FOR UPDATE"
        )
    )
    try:
        slow = asyncio.create_task(place(client, keys.web, "SLOW", "A"))
        for _ in range(100):
            if await _lock_waiters(engine):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the slow order never waited on the held lock")
        # Another customer: a new e-mail's first orders wait on each other's customer row.
        fast = await place(client, keys.web, "FAST", "B", email="bob@example.com")
        response = await client.get(
            "/v1/orders",
            params={"updated_since": start, "limit": "1"},
            headers=Keys.bearer(keys.web),
        )
        page = await response.json()
        seen = [o["id"] for o in page["items"]]
        # FAST may be held back while SLOW may still commit below it (our feed does
        # that), but never served ahead of a position SLOW can still take.
        assert seen in ([], [fast["id"]])
        cursor = page["next_cursor"]
    finally:
        transaction.rollback()
        blocker.close()
    slow_order = await slow
    assert slow_order["updated_at"] < fast["updated_at"]  # stamped first, committed last
    resume = {"cursor": cursor} if cursor else {"updated_since": start}
    ids, _, _ = await _page_through(client, keys.web, {**resume, "limit": "10"})
    assert sorted(seen + ids) == sorted([slow_order["id"], fast["id"]])


def _unsigned(document: str) -> str:
    """A cursor as the API used to make them: base64url JSON, no signature."""
    return base64.urlsafe_b64encode(document.encode()).decode().rstrip("=")


FORGED_CURSORS = {
    "boolean sequence": f'[true, "{uuid.uuid4()}"]',
    "number as id": "[1, 5]",
    "list as id": "[1, [1]]",
    "sequence past bigint": f'[{10**30}, "{uuid.uuid4()}"]',
    "nested 2000 deep": "[" * 2000,
    "well-formed but not issued": f'[1, "{uuid.uuid4()}"]',
}


async def test_a_cursor_the_server_did_not_issue_is_a_400_problem(
    client: Any, keys: Keys, stocked: None
) -> None:
    await place(client, keys.web, "W-1")
    for name, document in FORGED_CURSORS.items():
        for cursor in (_unsigned(document), _unsigned(document) + "." + "A" * 22):
            response = await client.get(
                "/v1/orders", params={"cursor": cursor}, headers=Keys.bearer(keys.web)
            )
            text = await response.text()
            assert response.status == 400, (name, cursor, text)
            assert response.content_type == PROBLEM, (name, text)
            assert "cursor" in json.loads(text)["detail"], (name, text)


async def _first_cursor(client: Any, keys: Keys) -> str:
    response = await client.get("/v1/orders", params={"limit": "1"}, headers=Keys.bearer(keys.web))
    body = await response.json()
    assert response.status == 200 and body["next_cursor"], body
    return str(body["next_cursor"])


async def test_a_cursor_tampered_with_is_a_400_problem(
    client: Any, keys: Keys, stocked: None
) -> None:
    for i in range(2):
        await place(client, keys.web, f"W-{i}")
    cursor = await _first_cursor(client, keys)
    payload, mac = cursor.split(".")
    position = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    position[0] -= 1  # one step back: the page again, or another channel's position
    tampered = _unsigned(json.dumps(position)) + "." + mac
    response = await client.get(
        "/v1/orders", params={"cursor": tampered}, headers=Keys.bearer(keys.web)
    )
    await problem_of(response, 400)


SECRET = "a-secret-key-of-some-length"
KEYS = {
    "same secret key": ((SECRET, "admin-1"), (SECRET, "admin-2"), 200),
    "other secret key": ((SECRET, ADMIN_TOKEN), ("another-secret-key-0000", ADMIN_TOKEN), 400),
    "no secret key, same admin token": ((None, ADMIN_TOKEN), (None, ADMIN_TOKEN), 200),
    "no secret key, other admin token": ((None, ADMIN_TOKEN), (None, "another-admin"), 400),
}


@pytest.mark.parametrize(("one", "other", "status"), KEYS.values(), ids=KEYS.keys())
async def test_a_cursor_is_accepted_by_every_app_with_the_same_secret_and_no_other(
    aiohttp_client: Any,
    engine: sa.Engine,
    keys: Keys,
    one: tuple[str | None, str],
    other: tuple[str | None, str],
    status: int,
) -> None:
    """`ordersync api --processes N` runs N apps over one feed: ORDERSYNC_SECRET_KEY (or,
    without one, the admin token) signs the cursors, so any of them reads any cursor."""
    first = await aiohttp_client(
        init_app(engine, HttpConfig(secret_key=one[0], admin_token=one[1]), routing=ROUTING)
    )
    second = await aiohttp_client(
        init_app(engine, HttpConfig(secret_key=other[0], admin_token=other[1]), routing=ROUTING)
    )
    await stock(
        first, replace(keys, admin=one[1]), {"sku": "A", "location": "WH-EAST", "set_on_hand": 10}
    )
    for i in range(2):
        await place(first, keys.web, f"W-{i}")
    cursor = await _first_cursor(first, keys)
    response = await second.get(
        "/v1/orders", params={"cursor": cursor}, headers=Keys.bearer(keys.web)
    )
    assert response.status == status, await response.text()
