"""Header bytes a client controls: never a 500, never a write, whatever they are.

Runs against the real app on a real socket (tests/integration/live.py), since an
HTTP client library re-encodes header values and cannot send bytes that are not
UTF-8. HYPOTHESIS_PROFILE=dev runs a real search (500 examples per header).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from adapters.http.headers import READ_HEADERS
from adapters.http.keys import HttpConfig
from tests.factories import order_doc
from tests.integration.conftest import Keys
from tests.integration.live import Reply, fuzz_settings, raw_request, serve
from tests.integration.test_bad_input import snapshot

PROBLEM = "application/problem+json"
TRACEPARENT = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
def live(engine: sa.Engine, http_config: HttpConfig, keys: Keys) -> Iterator[str]:
    """The app on a real socket, with plenty of stock for order_doc's SKU."""
    with serve(engine, http_config) as base_url:
        body = {"adjustments": [{"sku": "A", "location": "WH-EAST", "set_on_hand": 1_000_000}]}
        reply = raw_request(
            base_url,
            "POST",
            "/v1/inventory/adjustments",
            [
                (b"Authorization", f"Bearer {keys.admin}".encode()),
                (b"Content-Type", b"application/json"),
            ],
            json.dumps(body).encode(),
        )
        assert reply.status == 200, reply.body
        yield base_url


def post_order(base_url: str, keys: Keys, name: bytes, value: bytes) -> Reply:
    """A valid new order, with header `name` set to `value` (replacing the usual one)."""
    usual = {
        b"authorization": f"Bearer {keys.web}".encode(),
        b"content-type": b"application/json",
        b"traceparent": TRACEPARENT,  # so that tracestate is read and stored
    }
    usual[name.lower()] = value
    body = json.dumps(order_doc(f"H-{uuid.uuid4().hex[:12]}", [("A", 1)])).encode()
    return raw_request(base_url, "POST", "/v1/orders", list(usual.items()), body)


def check_problem(reply: Reply, expected: int) -> dict[str, Any]:
    assert reply.status == expected, (reply.status, reply.body)
    assert reply.content_type == PROBLEM, reply.headers
    body: dict[str, Any] = json.loads(reply.body)
    assert body["status"] == expected and body["title"], body
    return body


NOT_UTF8 = b"abc\xff\xfe\xc3("  # a lone continuation byte and a truncated sequence


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (b"Authorization", 401),
        (b"Idempotency-Key", 400),
        (b"X-Request-ID", 400),
        (b"tracestate", 400),
    ],
)
def test_header_bytes_that_are_not_utf8_are_a_4xx_problem_and_write_nothing(
    live: str, keys: Keys, engine: sa.Engine, name: bytes, expected: int
) -> None:
    value = b"Bearer " + NOT_UTF8 if name == b"Authorization" else NOT_UTF8
    before = snapshot(engine)
    reply = post_order(live, keys, name, value)
    body = check_problem(reply, expected)
    if expected == 400:
        assert name.decode() in body["detail"], body
    assert snapshot(engine) == before


def test_a_non_utf8_authorization_is_refused_before_the_key_lookup(
    engine: sa.Engine, http_config: HttpConfig, keys: Keys
) -> None:
    """Anyone can send it: it must not reach the database. With the database gone (an
    engine on a closed port), a request that reached it would be a 503, not a 401."""
    dead = sa.create_engine("postgresql+psycopg://nobody@127.0.0.1:9/none", pool_pre_ping=False)
    try:
        with serve(dead, http_config) as base_url:
            reply = raw_request(
                base_url, "GET", "/v1/orders", [(b"Authorization", b"Bearer osk_" + NOT_UTF8)]
            )
            check_problem(reply, 401)
    finally:
        dead.dispose()


def _clean(value: bytes) -> bool:
    """UTF-8 text without control characters, as the app sees it (the parser strips the
    spaces and tabs around a value)."""
    try:
        text = value.strip(b" \t").decode("utf-8")
    except UnicodeDecodeError:
        return False
    return not any(ord(c) < 32 or ord(c) == 127 for c in text)


@pytest.mark.parametrize("header", READ_HEADERS)
@fuzz_settings(ci_examples=15, dev_examples=500)
@given(value=st.binary(max_size=300))
def test_arbitrary_bytes_in_a_header_the_app_reads_are_never_a_5xx(
    live: str, keys: Keys, engine: sa.Engine, header: str, value: bytes
) -> None:
    """Any bytes in any header the app reads (adapters/http/headers.py lists them): no 5xx;
    refused (4xx) with nothing written, or accepted with exactly one order written; and
    bytes that are not clean UTF-8 text are always refused."""
    before = snapshot(engine)
    reply = post_order(live, keys, header.encode(), value)
    assert reply.status < 500, (reply.status, reply.body)
    after = snapshot(engine)
    if reply.status >= 400:
        assert after == before, reply.body
    else:
        assert after["orders"] == before["orders"] + 1
    if not _clean(value):
        assert 400 <= reply.status < 500, (reply.status, reply.body)
