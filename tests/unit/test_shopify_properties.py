"""Whatever a verified Shopify delivery holds, interpreting it gives commands or a
validation error (a pydantic ValidationError or InvalidDelivery: the delivery is parked),
never another exception: arbitrary JSON, and the fixtures with fields dropped, replaced
and retyped."""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from adapters.channels import shopify
from adapters.channels.webhook import InvalidDelivery, Receipt
from domain.channel_commands import ChannelOrder, ChannelRefund, ChannelShipment
from tests.shopify_docs import delivery, doc
from tests.unit.test_shopify_webhook import FakeShop

TOPICS = ("orders/create", "orders/updated", "orders/cancelled", "refunds/create")
FIXTURES = {
    "orders_create": "orders/create",
    "orders_create_unicode": "orders/create",
    "orders_create_multi_currency": "orders/updated",
    "orders_create_gift_card": "orders/create",
    "orders_create_minimal": "orders/create",
    "orders_cancelled": "orders/cancelled",
    "refunds_create_partial": "refunds/create",
    "fulfillments_create": "fulfillments/create",
}
DOCUMENTS = {name: doc(name) for name in FIXTURES}

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["", "0", "-1.00", "1e999", "19.999", "NaN", "USD", "2026-11-26T10:00:00Z"]),
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def outcome(topic: str, body: bytes) -> Sequence[object] | Exception:
    """What interpreting gives: its commands, or the validation error it raised."""
    try:
        return shopify.interpret(Receipt("d", topic), delivery(body, topic), FakeShop())
    except (ValidationError, InvalidDelivery) as error:
        return error


def assert_commands_or_refused(topic: str, body: bytes) -> None:
    result = outcome(topic, body)
    if isinstance(result, Exception):
        return
    assert isinstance(result, tuple)
    for command in result:
        assert isinstance(command, ChannelOrder | ChannelRefund | ChannelShipment)


@given(value=json_values, topic=st.sampled_from(TOPICS))
def test_arbitrary_json_is_read_or_refused(value: Any, topic: str) -> None:
    assert_commands_or_refused(topic, json.dumps(value).encode())


@given(data=st.binary(max_size=200), topic=st.sampled_from(TOPICS))
def test_arbitrary_bytes_are_read_or_refused(data: bytes, topic: str) -> None:
    assert_commands_or_refused(topic, data)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    paths = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            paths += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            paths += _paths(item, (*prefix, index))
    return paths


PATHS = {name: _paths(document) for name, document in DOCUMENTS.items()}


def _retyped(value: Any) -> Any:
    """The same value as another JSON type (the mistakes channels make)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return [value]
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)}
    if isinstance(value, dict):
        return list(value.values())
    return 0


def _mutate(document: Any, path: tuple[Any, ...], how: str, replacement: Any) -> None:
    parent = document
    for step in path[:-1]:
        try:
            parent = parent[step]
        except (KeyError, IndexError, TypeError):
            return  # an earlier mutation removed it
    last = path[-1]
    try:
        current = parent[last]
    except (KeyError, IndexError, TypeError):
        return
    if how == "drop":
        del parent[last]
    elif how == "replace":
        parent[last] = replacement
    else:
        parent[last] = _retyped(current)


mutations = st.tuples(
    st.sampled_from(["drop", "replace", "retype"]),
    st.integers(min_value=0, max_value=10**9),
    json_values,
)


@given(name=st.sampled_from(sorted(FIXTURES)), changes=st.lists(mutations, min_size=1, max_size=4))
def test_mutated_fixtures_are_read_or_refused(
    name: str, changes: list[tuple[str, int, Any]]
) -> None:
    document = copy.deepcopy(DOCUMENTS[name])
    paths = PATHS[name]
    for how, pick, replacement in changes:
        _mutate(document, paths[pick % len(paths)], how, replacement)

    assert_commands_or_refused(FIXTURES[name], json.dumps(document, default=str).encode())


def test_the_unmutated_fixtures_are_read() -> None:
    """The property above starts from payloads that are themselves taken."""
    for name, topic in FIXTURES.items():
        result = outcome(topic, json.dumps(DOCUMENTS[name], default=str).encode())
        assert isinstance(result, tuple) and len(result) == 1, (name, result)
