"""Property tests: whatever arrives at the Amazon door, and whatever Amazon's API answers,
the kind normalizes it or refuses it with a validation error (ValidationError,
InvalidDelivery) — never another exception; and what it normalizes passes the core's
own checks (exact totals, discounts within prices)."""

from __future__ import annotations

import copy
import json
from typing import Any

import httpx
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from adapters.channels.amazon import KIND, interpret
from adapters.channels.amazon_client import AmazonClient
from adapters.channels.amazon_normalize import order_commands
from adapters.channels.webhook import InboundRequest, InvalidDelivery
from domain.channel_commands import ChannelOrder
from domain.normalize import build_order
from tests.unit.amazon_fixtures import ORDERS, document, load, order_payload

WEBHOOK = KIND.webhook
assert WEBHOOK is not None
NOTIFICATIONS = (
    "eventbridge_order_change_status.json",
    "eventbridge_order_change_buyer_cancel.json",
    "sqs_order_change_afn.json",
)
LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(["", "0.00", "19.99", "-1.00", "1E+3", "USD", "JPY", "true", "Canceled"])
)
JSON = st.recursive(
    LEAVES,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=16,
)


def _paths(value: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [at]
    if isinstance(value, dict):
        for key, inner in value.items():
            found += _paths(inner, (*at, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += _paths(inner, (*at, index))
    return found


@st.composite
def mutated(draw: st.DrawFn, original: Any) -> Any:
    """The document with one to three of its members replaced by any JSON, or removed."""
    doc = copy.deepcopy(original)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(doc)
        path = draw(st.sampled_from(paths))
        if not path:
            return draw(JSON)
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        if draw(st.booleans()):
            parent[path[-1]] = draw(JSON)
        elif isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent.pop(path[-1])
    return doc


DOCUMENTS = st.sampled_from(sorted(ORDERS)).flatmap(lambda name: mutated(document(name)))


def _request(body: bytes) -> InboundRequest:
    return InboundRequest(body=body, headers={}, content_type="application/json")


def _bodies() -> st.SearchStrategy[bytes]:
    as_json = JSON.map(lambda value: json.dumps(value).encode())
    wrapped = JSON.map(lambda value: json.dumps({"detail": value}).encode())
    notifications = st.sampled_from(NOTIFICATIONS).flatmap(lambda name: mutated(load(name)))
    return (
        st.binary(max_size=64)
        | as_json
        | wrapped
        | notifications.map(lambda value: json.dumps(value).encode())
    )


@given(_bodies())
def test_the_door_reads_any_body_or_says_it_is_no_valid_delivery(body: bytes) -> None:
    try:
        receipt = WEBHOOK.receipt(_request(body))
    except InvalidDelivery:
        return
    assert receipt.topic == "ORDER_CHANGE" and receipt.delivery_id


@given(DOCUMENTS)
def test_any_order_document_normalizes_or_is_a_validation_error(doc: Any) -> None:
    try:
        commands = order_commands(doc)
    except ValidationError:
        return
    for command in commands:
        if isinstance(command, ChannelOrder):
            # What the kind normalized, the core takes: its totals are exact.
            order = build_order(command.order, channel="amazon-us")
            assert order.totals["grand_total"] == str(command.order.totals.grand_total)


@given(JSON)
def test_arbitrary_json_as_an_order_document_is_a_validation_error_or_nothing(doc: Any) -> None:
    try:
        order_commands(doc)
    except ValidationError:
        pass


def _client(order_reply: Any, items_reply: Any) -> AmazonClient:
    def answer(request: httpx.Request) -> httpx.Response:
        reply = items_reply if request.url.path.endswith("/orderItems") else order_reply
        return httpx.Response(200, content=json.dumps(reply).encode())

    return AmazonClient("http://amazon.test", transport=httpx.MockTransport(answer))


ORDER_REPLIES = st.sampled_from(sorted(ORDERS)).flatmap(
    lambda name: st.tuples(
        mutated({"payload": order_payload(name)}) | JSON,
        mutated(load(ORDERS[name][1][0]) if ORDERS[name][1] else {"payload": {}}) | JSON,
    )
)


@given(ORDER_REPLIES, st.sampled_from(NOTIFICATIONS))
def test_interpreting_any_answer_from_amazon_is_commands_or_a_parked_delivery(
    replies: tuple[Any, Any], notification: str
) -> None:
    order_reply, items_reply = replies
    if isinstance(order_reply, dict) and isinstance(order_reply.get("payload"), dict):
        # Most answers are about the order asked for: let the normalizer see them.
        event = load(notification)
        detail = event.get("detail", event)
        asked = detail["Payload"]["OrderChangeNotification"]["AmazonOrderId"]
        order_reply["payload"].setdefault("AmazonOrderId", asked)
    request = _request(json.dumps(load(notification)).encode())
    try:
        interpret(WEBHOOK.receipt(request), request, _client(order_reply, items_reply))
    except (ValidationError, InvalidDelivery):
        pass
