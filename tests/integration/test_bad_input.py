"""Bad input at the door: every error is problem+json, says what is wrong, and writes nothing."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa

from tests.factories import CONTRACT_ORDER, order_doc, with_field
from tests.integration.conftest import Keys, stock

PROBLEM = "application/problem+json"
COUNTED = (
    "orders",
    "order_lines",
    "reservations",
    "outbox_events",
    "outbox_deliveries",
    "outbox_sequences",
    "stock",
    "skus",
    "locations",
)
LIMIT = 64 * 1024  # the client fixture's max_body_bytes


def snapshot(engine: sa.Engine) -> dict[str, Any]:
    """Row counts of every table a request could write, and the stock figures themselves."""
    with engine.connect() as conn:
        counts: dict[str, Any] = {
            table: conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in COUNTED
        }
        counts["stock figures"] = [
            tuple(row)
            for row in conn.execute(
                sa.text("SELECT sku, location, on_hand, reserved FROM stock ORDER BY sku, location")
            )
        ]
        counts["sku versions"] = [
            tuple(row)
            for row in conn.execute(sa.text("SELECT sku, version FROM skus ORDER BY sku"))
        ]
    return counts


def check_problem(status: int, content_type: str, text: str, expected: int) -> dict[str, Any]:
    assert status == expected, text
    assert content_type == PROBLEM, (content_type, text)
    assert "Traceback" not in text and 'File "' not in text, text
    body: dict[str, Any] = json.loads(text)
    assert isinstance(body.get("type"), str) and body["type"], body
    assert isinstance(body.get("title"), str) and body["title"], body
    assert body.get("status") == expected, body
    return body


async def problem_of(response: Any, expected: int) -> dict[str, Any]:
    text = await response.text()
    return check_problem(response.status, response.content_type, text, expected)


@pytest.fixture
async def stocked(client: Any, keys: Keys, engine: sa.Engine) -> dict[str, Any]:
    """Stock for the contract order's SKU; returns the database snapshot afterwards."""
    await stock(
        client,
        keys,
        {"sku": "TEE-M-BLK", "location": "WH-EAST", "set_on_hand": 10},
        {"sku": "TEE-M-BLK", "location": "STORE-LIS", "set_on_hand": 3},
    )
    return snapshot(engine)


def web(keys: Keys, content_type: str = "application/json") -> dict[str, str]:
    return {**Keys.bearer(keys.web), "Content-Type": content_type}


def erp(keys: Keys, content_type: str = "application/json") -> dict[str, str]:
    return {**Keys.bearer(keys.erp), "Content-Type": content_type}


ADJUSTMENT = {"adjustments": [{"sku": "TEE-M-BLK", "location": "WH-EAST", "set_on_hand": 1}]}


@pytest.mark.parametrize("path", ["/v1/orders", "/v1/inventory/adjustments"])
async def test_malformed_json_is_a_400_problem_and_writes_nothing(
    client: Any, keys: Keys, engine: sa.Engine, stocked: dict[str, Any], path: str
) -> None:
    headers = web(keys) if path == "/v1/orders" else erp(keys)
    response = await client.post(path, data=b'{"external_id": "WEB-1", "lines": [', headers=headers)
    body = await problem_of(response, 400)
    assert "malformed JSON" in body["detail"]
    assert snapshot(engine) == stocked


@pytest.mark.parametrize("path", ["/v1/orders", "/v1/inventory/adjustments"])
async def test_an_empty_body_is_a_400_problem_and_writes_nothing(
    client: Any, keys: Keys, engine: sa.Engine, stocked: dict[str, Any], path: str
) -> None:
    headers = web(keys) if path == "/v1/orders" else erp(keys)
    response = await client.post(path, data=b"", headers=headers)
    await problem_of(response, 400)
    assert snapshot(engine) == stocked


@pytest.mark.parametrize(
    ("path", "document"),
    [("/v1/orders", CONTRACT_ORDER), ("/v1/inventory/adjustments", ADJUSTMENT)],
)
async def test_a_request_without_authorization_is_a_401_problem_and_writes_nothing(
    client: Any, keys: Keys, engine: sa.Engine, stocked: dict[str, Any], path: str, document: Any
) -> None:
    response = await client.post(path, json=document)
    body = await problem_of(response, 401)
    assert body["title"] == "Unauthorized"
    assert snapshot(engine) == stocked


@pytest.mark.parametrize(
    ("path", "document"),
    [("/v1/orders", CONTRACT_ORDER), ("/v1/inventory/adjustments", ADJUSTMENT)],
)
@pytest.mark.parametrize(
    "authorization",
    ["Bearer ch_not-a-real-key-0000000000000000", "Bearer sys_forged", "Basic dXNlcjpwYXNz"],
)
async def test_a_bad_key_is_a_401_problem_and_writes_nothing(
    client: Any,
    keys: Keys,
    engine: sa.Engine,
    stocked: dict[str, Any],
    path: str,
    document: Any,
    authorization: str,
) -> None:
    response = await client.post(path, json=document, headers={"Authorization": authorization})
    await problem_of(response, 401)
    assert snapshot(engine) == stocked


@pytest.mark.parametrize(
    ("path", "document"),
    [("/v1/orders", CONTRACT_ORDER), ("/v1/inventory/adjustments", ADJUSTMENT)],
)
async def test_a_text_plain_body_is_a_415_problem_and_writes_nothing(
    client: Any, keys: Keys, engine: sa.Engine, stocked: dict[str, Any], path: str, document: Any
) -> None:
    headers = web(keys, "text/plain") if path == "/v1/orders" else erp(keys, "text/plain")
    response = await client.post(path, data=json.dumps(document).encode(), headers=headers)
    body = await problem_of(response, 415)
    assert "text/plain" in body["detail"]
    assert snapshot(engine) == stocked


def _oversized_order() -> bytes:
    """A well-formed order document just over the body limit (a long ignored field)."""
    doc = copy.deepcopy(CONTRACT_ORDER)
    doc["notes"] = "x" * LIMIT
    raw = json.dumps(doc).encode()
    assert LIMIT < len(raw) < LIMIT + 1024
    return raw


async def test_a_body_over_the_limit_with_content_length_is_a_413_problem(
    client: Any, keys: Keys, engine: sa.Engine, stocked: dict[str, Any]
) -> None:
    raw = _oversized_order()
    response = await client.post("/v1/orders", data=raw, headers=web(keys))
    body = await problem_of(response, 413)
    assert str(LIMIT) in body["detail"]
    assert snapshot(engine) == stocked


@pytest.mark.parametrize("size", [LIMIT + 1, 4 * LIMIT])
async def test_a_chunked_body_over_the_limit_is_a_413_problem(
    client: Any, keys: Keys, engine: sa.Engine, stocked: dict[str, Any], size: int
) -> None:
    """No Content-Length: the limit is enforced while reading, also past aiohttp's own limit."""
    raw = json.dumps({**CONTRACT_ORDER, "notes": "x" * size}).encode()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(raw), 4096):
            yield raw[start : start + 4096]

    response = await client.post("/v1/orders", data=chunks(), headers=web(keys))
    body = await problem_of(response, 413)
    assert str(LIMIT) in body["detail"]
    assert snapshot(engine) == stocked


async def test_a_chunked_body_under_the_limit_is_accepted(
    client: Any, keys: Keys, engine: sa.Engine, stocked: dict[str, Any]
) -> None:
    """The control for the chunked 413: the same way of sending works when the body is small."""
    raw = json.dumps(CONTRACT_ORDER).encode()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(raw), 100):
            yield raw[start : start + 100]

    response = await client.post("/v1/orders", data=chunks(), headers=web(keys))
    assert response.status == 201, await response.text()
    assert snapshot(engine)["orders"] == stocked["orders"] + 1


@dataclass
class Exchange:
    status: int
    headers: dict[str, str]
    text: str
    sent: int  # how many of the pieces were written before the answer came
    after: bytes | None  # what arrived after the answer until the server closed (if waited)


async def _raw_exchange(
    client: Any,
    head: bytes,
    pieces: list[bytes],
    pause_s: float,
    *,
    until_closed: bool = False,
    bound_s: float = 10.0,
) -> Exchange:
    """Send `head`, then each piece `pause_s` apart, until a response arrives; parse it.

    `bound_s` only bounds the waiting (for the answer, and for the close if `until_closed`)."""
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    try:
        writer.write(head)
        await writer.drain()
        status_line, sent = b"", 0
        async with asyncio.timeout(bound_s):
            while not status_line:
                if sent < len(pieces):
                    try:
                        writer.write(pieces[sent])
                        await writer.drain()
                        sent += 1
                    except (ConnectionError, OSError):
                        pass  # the server answered and closed: read the answer below
                try:
                    status_line = await asyncio.wait_for(reader.readline(), pause_s)
                except TimeoutError:
                    continue
        headers: dict[str, str] = {}
        while (line := await asyncio.wait_for(reader.readline(), 5)) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        text = (await asyncio.wait_for(reader.readexactly(length), 5)).decode()
        after = await asyncio.wait_for(reader.read(), bound_s) if until_closed else None
        return Exchange(int(status_line.split()[1]), headers, text, sent, after)
    finally:
        writer.close()


def _head(keys: Keys, length: int) -> bytes:
    return (
        "POST /v1/orders HTTP/1.1\r\n"
        "Host: localhost\r\n"
        f"Authorization: Bearer {keys.web}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {length}\r\n"
        "\r\n"
    ).encode()


def _problem_of(exchange: Exchange, expected: int) -> dict[str, Any]:
    content_type = exchange.headers.get("content-type", "").split(";")[0]
    return check_problem(exchange.status, content_type, exchange.text, expected)


async def test_a_body_that_stalls_past_the_timeout_is_a_408_problem(
    client: Any, keys: Keys, engine: sa.Engine, stocked: dict[str, Any]
) -> None:
    """20 bytes of the body, then nothing: the answer is the 408 (the fixture's 1 s), and
    then the server closes the connection without a word more (aiohttp first waits a while
    for the rest of the body, so the bound is 15 s)."""
    raw = json.dumps(CONTRACT_ORDER).encode()
    exchange = await _raw_exchange(
        client, _head(keys, len(raw)) + raw[:20], [], pause_s=0.1, until_closed=True, bound_s=15
    )
    body = _problem_of(exchange, 408)
    assert body["detail"] == "the body did not arrive within 1s"
    assert exchange.after == b""
    assert snapshot(engine) == stocked


async def test_a_body_that_trickles_in_slower_than_the_timeout_is_a_408_problem(
    client: Any, keys: Keys, engine: sa.Engine, stocked: dict[str, Any]
) -> None:
    """A byte every 0.2 s: each arrives in time, the whole body does not (slowloris). The
    408 comes while bytes are still arriving and before the body is complete: a deadline
    for the whole body, not for each read."""
    raw = json.dumps(CONTRACT_ORDER).encode()
    pieces = [raw[i : i + 1] for i in range(20, len(raw))]
    exchange = await _raw_exchange(client, _head(keys, len(raw)) + raw[:20], pieces, pause_s=0.2)
    body = _problem_of(exchange, 408)
    assert body["detail"] == "the body did not arrive within 1s"
    assert 2 <= exchange.sent < len(pieces), (exchange.sent, len(pieces))
    assert snapshot(engine) == stocked


async def test_a_body_sent_in_pieces_within_the_timeout_is_accepted(
    client: Any, keys: Keys, engine: sa.Engine, stocked: dict[str, Any]
) -> None:
    """The control for the 408s: the same way of sending, a body in five parts with three
    pauses of 0.15 s between them (about half of the 1 s), gets the order placed; a timeout
    that fired well before its time would refuse it."""
    raw = json.dumps(CONTRACT_ORDER).encode()
    cut = [len(raw) * i // 5 for i in range(6)]
    pieces = [raw[cut[i] : cut[i + 1]] for i in range(1, 5)]
    exchange = await _raw_exchange(client, _head(keys, len(raw)) + raw[: cut[1]], pieces, 0.15)
    assert exchange.status == 201, exchange.text
    assert exchange.sent == len(pieces)
    assert snapshot(engine)["orders"] == stocked["orders"] + 1


async def test_a_schema_error_lists_every_bad_field(
    client: Any, keys: Keys, engine: sa.Engine, stocked: dict[str, Any]
) -> None:
    doc = copy.deepcopy(CONTRACT_ORDER)
    doc["external_id"] = ""
    doc["placed_at"] = "yesterday"
    doc["currency"] = "euro"
    doc["customer"]["email"] = "not-an-email"
    doc["shipping_address"]["country"] = "Portugal"
    doc["lines"][0]["quantity"] = 0
    doc["lines"].append({"sku": "TEE-M-BLK", "quantity": "2", "unit_price": "-1.00"})
    doc["payment"]["status"] = "maybe"
    doc["totals"]["grand_total"] = "lots"
    del doc["shipping_address"]["city"]
    response = await client.post("/v1/orders", json=doc, headers=web(keys))
    body = await problem_of(response, 422)
    fields = {error["field"] for error in body["errors"]}
    expected = {
        "external_id",
        "placed_at",
        "currency",
        "customer.email",
        "shipping_address.country",
        "shipping_address.city",
        "lines.0.quantity",
        "lines.1.quantity",
        "lines.1.unit_price",
        "payment.status",
        "totals.grand_total",
    }
    assert expected <= fields, expected - fields
    assert all(error["message"] for error in body["errors"]), body["errors"]
    for field in expected:
        assert field in body["detail"]
    assert snapshot(engine) == stocked


async def test_amounts_invalid_for_the_currency_are_all_listed(
    client: Any, keys: Keys, engine: sa.Engine, stocked: dict[str, Any]
) -> None:
    doc = copy.deepcopy(CONTRACT_ORDER)
    doc["lines"][0]["unit_price"] = "19.901"
    doc["shipping"]["tax"] = "1.135"
    doc["totals"]["grand_total"] = "54.9801"
    response = await client.post("/v1/orders", json=doc, headers=web(keys))
    body = await problem_of(response, 422)
    fields = {error["field"] for error in body["errors"]}
    assert {"lines.0.unit_price", "shipping.tax", "totals.grand_total"} <= fields, fields
    assert snapshot(engine) == stocked


async def test_a_schema_error_in_an_adjustment_batch_lists_every_bad_field(
    client: Any, keys: Keys, engine: sa.Engine, stocked: dict[str, Any]
) -> None:
    document = {
        "adjustments": [
            {"sku": "TEE-M-BLK", "location": "WH-EAST", "set_on_hand": -1},
            {"sku": "", "location": "WH-EAST", "delta": 1},
            {"sku": "TEE-M-BLK", "location": "WH-EAST", "set_on_hand": 1, "delta": 1},
        ]
    }
    response = await client.post("/v1/inventory/adjustments", json=document, headers=erp(keys))
    body = await problem_of(response, 422)
    fields = {error["field"] for error in body["errors"]}
    assert {"adjustments.0.set_on_hand", "adjustments.1.sku", "adjustments.2"} <= fields, fields
    assert snapshot(engine) == stocked


async def test_an_unknown_sku_is_a_422_problem_naming_it(
    client: Any, keys: Keys, engine: sa.Engine, stocked: dict[str, Any]
) -> None:
    doc = order_doc("WEB-2", [("TEE-M-BLK", 1), ("NO-SUCH-SKU", 1), ("ALSO-UNKNOWN", 2)])
    response = await client.post("/v1/orders", json=doc, headers=web(keys))
    body = await problem_of(response, 422)
    assert "NO-SUCH-SKU" in body["detail"] and "ALSO-UNKNOWN" in body["detail"]
    assert "TEE-M-BLK" not in body["detail"]
    assert sorted(body["skus"]) == ["ALSO-UNKNOWN", "NO-SUCH-SKU"]
    assert snapshot(engine) == stocked


async def test_a_totals_mismatch_is_a_422_problem_naming_both_figures(
    client: Any, keys: Keys, engine: sa.Engine, stocked: dict[str, Any]
) -> None:
    doc = copy.deepcopy(CONTRACT_ORDER)
    doc["totals"]["grand_total"] = "50.00"
    response = await client.post("/v1/orders", json=doc, headers=web(keys))
    body = await problem_of(response, 422)
    assert "50.00" in body["detail"] and "54.98" in body["detail"], body
    assert body["mismatches"] == [
        {"field": "totals.grand_total", "sent": "50.00", "computed": "54.98"}
    ]
    assert snapshot(engine) == stocked


async def test_an_adjustment_below_zero_rolls_back_the_whole_batch(
    client: Any, keys: Keys, engine: sa.Engine, stocked: dict[str, Any]
) -> None:
    document = {
        "adjustments": [
            {"sku": "TEE-M-BLK", "location": "WH-EAST", "set_on_hand": 50, "reason": "count"},
            {"sku": "NEW-SKU", "location": "NEW-PLACE", "set_on_hand": 7, "reason": "new"},
            {"sku": "TEE-M-BLK", "location": "STORE-LIS", "delta": -2, "reason": "damaged"},
            {"sku": "TEE-M-BLK", "location": "STORE-LIS", "delta": -2, "reason": "damaged"},
            {"sku": "TEE-M-BLK", "location": "WH-WEST", "set_on_hand": 4, "reason": "count"},
        ]
    }
    response = await client.post("/v1/inventory/adjustments", json=document, headers=erp(keys))
    body = await problem_of(response, 422)
    assert body["index"] == 3, body
    assert "STORE-LIS" in body["detail"], body
    assert snapshot(engine) == stocked
    after = await client.get("/v1/inventory/TEE-M-BLK", headers=Keys.bearer(keys.erp))
    assert (await after.json())["atp"] == 13
    unknown = await client.get("/v1/inventory/NEW-SKU", headers=Keys.bearer(keys.erp))
    await problem_of(unknown, 404)


@pytest.mark.parametrize("who", ["erp", "admin"])
async def test_a_system_key_may_not_post_orders(
    client: Any, keys: Keys, engine: sa.Engine, stocked: dict[str, Any], who: str
) -> None:
    response = await client.post(
        "/v1/orders", json=CONTRACT_ORDER, headers=Keys.bearer(getattr(keys, who))
    )
    body = await problem_of(response, 403)
    assert body["title"] == "Forbidden"
    assert snapshot(engine) == stocked


async def test_a_channel_key_may_not_adjust_stock(
    client: Any, keys: Keys, engine: sa.Engine, stocked: dict[str, Any]
) -> None:
    response = await client.post("/v1/inventory/adjustments", json=ADJUSTMENT, headers=web(keys))
    await problem_of(response, 403)
    assert snapshot(engine) == stocked


async def test_an_idempotency_key_longer_than_255_characters_is_a_400_problem(
    client: Any, keys: Keys, engine: sa.Engine, stocked: dict[str, Any]
) -> None:
    headers = {**web(keys), "Idempotency-Key": "k" * 256}
    response = await client.post("/v1/orders", json=CONTRACT_ORDER, headers=headers)
    body = await problem_of(response, 400)
    assert "Idempotency-Key" in body["detail"]
    assert snapshot(engine) == stocked


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/nothing-here"), ("POST", "/v1/nothing-here"), ("GET", "/v2/orders")],
)
async def test_an_unknown_route_is_a_404_problem(
    client: Any,
    keys: Keys,
    engine: sa.Engine,
    stocked: dict[str, Any],
    method: str,
    path: str,
) -> None:
    kwargs: dict[str, Any] = {"headers": web(keys)}
    if method == "POST":
        kwargs["json"] = CONTRACT_ORDER
    response = await client.request(method, path, **kwargs)
    await problem_of(response, 404)
    assert snapshot(engine) == stocked


async def test_a_wrong_method_on_a_known_route_is_a_405_problem(
    client: Any, keys: Keys, engine: sa.Engine, stocked: dict[str, Any]
) -> None:
    response = await client.delete("/v1/orders", headers=web(keys))
    await problem_of(response, 405)
    assert snapshot(engine) == stocked


@pytest.mark.parametrize("path", ["/v1/orders", "/v1/inventory/adjustments"])
@pytest.mark.parametrize(
    "raw", [b"[" * 20_000 + b"]" * 20_000, b'{"a": ' * 8_000 + b"1" + b"}" * 8_000]
)
async def test_json_nested_too_deeply_is_a_400_problem(
    client: Any, keys: Keys, engine: sa.Engine, stocked: dict[str, Any], path: str, raw: bytes
) -> None:
    """Well under the size limit, but deep enough to exhaust the parser's recursion."""
    assert len(raw) < LIMIT
    headers = web(keys) if path == "/v1/orders" else erp(keys)
    response = await client.post(path, data=raw, headers=headers)
    await problem_of(response, 400)
    assert snapshot(engine) == stocked


@pytest.mark.parametrize(
    "field",
    ["external_id", "customer.name", "customer.phone", "shipping_address.city", "lines.0.sku"],
)
async def test_a_nul_character_in_an_order_field_is_a_422_problem_naming_the_field(
    client: Any, keys: Keys, engine: sa.Engine, stocked: dict[str, Any], field: str
) -> None:
    """PostgreSQL cannot store U+0000 in text or JSONB: it must be refused as invalid input."""
    value = "TEE-M-BLK\u0000" if field == "lines.0.sku" else "A\u0000B"
    response = await client.post(
        "/v1/orders", json=with_field(CONTRACT_ORDER, field, value), headers=web(keys)
    )
    body = await problem_of(response, 422)
    assert field in json.dumps(body), body
    assert snapshot(engine) == stocked


@pytest.mark.parametrize("field", ["sku", "location"])
async def test_a_nul_character_in_an_adjustment_is_a_422_problem(
    client: Any, keys: Keys, engine: sa.Engine, stocked: dict[str, Any], field: str
) -> None:
    adjustment = {"sku": "TEE-M-BLK", "location": "WH-EAST", "set_on_hand": 4, "reason": "count"}
    adjustment[field] = "X\u0000Y"
    response = await client.post(
        "/v1/inventory/adjustments", json={"adjustments": [adjustment]}, headers=erp(keys)
    )
    body = await problem_of(response, 422)
    assert f"adjustments.0.{field}" in json.dumps(body), body
    assert snapshot(engine) == stocked


@pytest.mark.parametrize(
    "adjustment",
    [
        {"sku": "TEE-M-BLK", "location": "WH-EAST", "set_on_hand": 2**31},
        {"sku": "TEE-M-BLK", "location": "WH-EAST", "delta": 2**31},
        {"sku": "TEE-M-BLK", "location": "WH-EAST", "delta": -(2**40)},
    ],
)
async def test_an_adjustment_beyond_the_stock_range_is_a_422_problem(
    client: Any,
    keys: Keys,
    engine: sa.Engine,
    stocked: dict[str, Any],
    adjustment: dict[str, Any],
) -> None:
    """on_hand is a 32-bit column: a figure it cannot hold is invalid input, not a 500."""
    response = await client.post(
        "/v1/inventory/adjustments", json={"adjustments": [adjustment]}, headers=erp(keys)
    )
    await problem_of(response, 422)
    assert snapshot(engine) == stocked


@pytest.mark.parametrize("placed_at", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
async def test_a_placed_at_outside_the_representable_range_is_a_422_problem(
    client: Any, keys: Keys, engine: sa.Engine, stocked: dict[str, Any], placed_at: str
) -> None:
    doc = with_field(CONTRACT_ORDER, "placed_at", placed_at)
    response = await client.post("/v1/orders", json=doc, headers=web(keys))
    body = await problem_of(response, 422)
    assert "placed_at" in json.dumps(body), body
    assert snapshot(engine) == stocked


async def test_a_payment_amount_other_than_the_grand_total_is_a_422_problem(
    client: Any, keys: Keys, engine: sa.Engine, stocked: dict[str, Any]
) -> None:
    doc = with_field(CONTRACT_ORDER, "payment.amount", "999.00")
    response = await client.post("/v1/orders", json=doc, headers=web(keys))
    body = await problem_of(response, 422)
    assert body["mismatches"] == [
        {"field": "payment.amount", "sent": "999.00", "computed": "54.98"}
    ], body
    assert snapshot(engine) == stocked


async def test_a_line_discount_above_the_line_price_is_a_422_problem(
    client: Any, keys: Keys, engine: sa.Engine, stocked: dict[str, Any]
) -> None:
    """2 × 19.90 = 39.80: a discount of 50.00 would make the line worth less than nothing
    (the totals are made to add up, so only the discount rule can refuse it)."""
    doc = with_field(CONTRACT_ORDER, "lines.0.discount", "50.00")
    doc["totals"]["grand_total"] = doc["payment"]["amount"] = "4.98"
    response = await client.post("/v1/orders", json=doc, headers=web(keys))
    body = await problem_of(response, 422)
    assert [e["field"] for e in body["errors"]] == ["lines.0.discount"], body
    assert snapshot(engine) == stocked


async def test_a_discount_equal_to_the_line_price_is_accepted(
    client: Any, keys: Keys, engine: sa.Engine, stocked: dict[str, Any]
) -> None:
    """The control for the discount rule: a free line is fine."""
    doc = with_field(CONTRACT_ORDER, "lines.0.discount", "39.80")
    doc["totals"]["grand_total"] = doc["payment"]["amount"] = "15.18"
    response = await client.post("/v1/orders", json=doc, headers=web(keys))
    assert response.status == 201, await response.text()


@pytest.mark.parametrize(
    "placed_at",
    [
        1795687200,  # Unix time: seconds, milliseconds? refused rather than guessed
        1795687200.5,
        "2026-11-26T10:00:00.123456789Z",  # nanoseconds would be dropped silently
        "2026-11-26T10:00:00",  # no time zone
        "2026-11-26",
    ],
)
async def test_a_placed_at_that_is_not_an_rfc3339_string_is_a_422_problem(
    client: Any, keys: Keys, engine: sa.Engine, stocked: dict[str, Any], placed_at: Any
) -> None:
    doc = with_field(CONTRACT_ORDER, "placed_at", placed_at)
    response = await client.post("/v1/orders", json=doc, headers=web(keys))
    body = await problem_of(response, 422)
    assert [e["field"] for e in body["errors"]] == ["placed_at"], body
    assert snapshot(engine) == stocked


async def test_a_placed_at_with_microseconds_keeps_them(
    client: Any, keys: Keys, stocked: dict[str, Any]
) -> None:
    doc = with_field(CONTRACT_ORDER, "placed_at", "2026-11-26T11:00:00.123456+01:00")
    response = await client.post("/v1/orders", json=doc, headers=web(keys))
    body = await response.json()
    assert response.status == 201, body
    assert body["placed_at"] == "2026-11-26T10:00:00.123456+00:00"


NFC_CAFE, NFD_CAFE = "CAF\u00c9-M", "CAFE\u0301-M"


async def test_skus_and_codes_are_normalised_to_nfc_at_the_door(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    """ "CAFÉ" typed as NFC and as NFD is one SKU (and one location), not two."""
    assert NFC_CAFE != NFD_CAFE
    await stock(
        client,
        keys,
        {"sku": NFC_CAFE, "location": "LOJA-\u00c9", "set_on_hand": 5},
        {"sku": NFD_CAFE, "location": "LOJA-E\u0301", "delta": 1},
    )
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT sku, location, on_hand FROM stock")).all()
    assert [tuple(r) for r in rows] == [(NFC_CAFE, "LOJA-\u00c9", 6)]
    doc = order_doc("WEB-NFD", [(NFD_CAFE, 1)])
    response = await client.post("/v1/orders", json=doc, headers=web(keys))
    body = await response.json()
    assert response.status == 201, body
    assert body["lines"][0]["sku"] == NFC_CAFE
    assert body["status"] == "allocated", body
    lookup = await client.get(f"/v1/inventory/{NFD_CAFE}", headers=Keys.bearer(keys.erp))
    assert (await lookup.json())["atp"] == 5


async def test_a_405_says_which_methods_the_route_allows(
    client: Any, keys: Keys, engine: sa.Engine, stocked: dict[str, Any]
) -> None:
    response = await client.put("/v1/orders", json=CONTRACT_ORDER, headers=web(keys))
    await problem_of(response, 405)
    allowed = {method.strip() for method in response.headers["Allow"].split(",")}
    assert allowed >= {"GET", "POST"}, response.headers
    assert snapshot(engine) == stocked


@pytest.mark.parametrize(
    ("number", "status"), [(b"0E-999999999", 201), (b"1E-999999999", 422), (b"1E+999999999", 422)]
)
async def test_an_amount_with_a_huge_exponent_is_answered_at_once(
    client: Any, keys: Keys, engine: sa.Engine, stocked: dict[str, Any], number: bytes, status: int
) -> None:
    """JSON numbers are read as exact Decimals: the exponent must never be raised to."""
    raw = json.dumps(CONTRACT_ORDER).replace('"discount": "0.00"', '"discount": DISCOUNT').encode()
    assert b"DISCOUNT" in raw
    response = await client.post(
        "/v1/orders", data=raw.replace(b"DISCOUNT", number), headers=web(keys)
    )
    text = await response.text()
    assert response.status == status, text
    if status == 422:
        check_problem(response.status, response.content_type, text, 422)
        assert snapshot(engine) == stocked
