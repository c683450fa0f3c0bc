"""The Amazon door's own part: the bearer key an EventBridge API destination sends, the
delivery's identity, and the order behind a notification read through the client."""

from __future__ import annotations

import json
from typing import Any

import pytest

from adapters import apikeys
from adapters.channels import CHANNELS
from adapters.channels.amazon import KIND, interpret
from adapters.channels.webhook import Credentials, InboundRequest, InvalidDelivery, Receipt
from adapters.systems.errors import PermanentError
from domain.channel_commands import ChannelCancelRequest, ChannelOrder
from tests.unit.amazon_fixtures import document, load, raw

CURRENT, PREVIOUS = apikeys.mint("ch"), apikeys.mint("ch")
CREDENTIALS = Credentials(channel="amazon-us", key_digests=(CURRENT.digest, PREVIOUS.digest))
STATUS_CHANGE = "eventbridge_order_change_status.json"
BUYER_CANCEL = "eventbridge_order_change_buyer_cancel.json"
WEBHOOK = KIND.webhook
assert WEBHOOK is not None


def request(body: bytes, **headers: str) -> InboundRequest:
    return InboundRequest(body=body, headers=headers, content_type="application/json")


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_the_registry_has_amazons_own_kind_with_its_door() -> None:
    assert CHANNELS["amazon"] is KIND
    assert KIND.speaks_as is None and KIND.list_orders is not None
    assert WEBHOOK.identify(request(raw(STATUS_CHANGE))) is None  # no identifying header


def test_the_channels_current_key_verifies_and_the_previous_one_says_so() -> None:
    body = raw(STATUS_CHANGE)
    assert WEBHOOK.verify(request(body, **bearer(CURRENT.key)), CREDENTIALS) == "api-key"
    assert (
        WEBHOOK.verify(request(body, **bearer(PREVIOUS.key)), CREDENTIALS)
        == "api-key (previous key)"
    )
    lowered = {"authorization": f"bearer {CURRENT.key}"}  # a stored copy: plain dict, any case
    assert WEBHOOK.verify(request(body, **lowered), CREDENTIALS) == "api-key"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer osk_ch_000000000000_not-the-key"},
        {"Authorization": f"Basic {CURRENT.key}"},
        {"Authorization": CURRENT.key},
        {"X-Api-Key": CURRENT.key},
    ],
)
def test_a_wrong_or_missing_key_verifies_nothing(headers: dict[str, str]) -> None:
    assert WEBHOOK.verify(request(raw(STATUS_CHANGE), **headers), CREDENTIALS) is None


def test_a_channel_without_key_digests_verifies_nothing() -> None:
    bare = Credentials(channel="amazon-us")
    assert WEBHOOK.verify(request(b"{}", **bearer(CURRENT.key)), bare) is None


def test_the_delivery_is_the_notification_id_and_the_topic_its_type() -> None:
    assert WEBHOOK.receipt(request(raw(STATUS_CHANGE))) == Receipt(
        "8b1e0c52-6d0e-4e9b-9c3a-2f1d7a4e5b60", "ORDER_CHANGE"
    )
    # A forwarder from an SQS queue posts the bare notification: read the same way.
    assert WEBHOOK.receipt(request(raw("sqs_order_change_afn.json"))) == Receipt(
        "f09d3b7e-5a41-4c8e-a2d6-7b19e0c45f83", "ORDER_CHANGE"
    )


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"detail": "ORDER_CHANGE"}', "detail is not an object"),
        (b'{"detail": {"NotificationType": "ORDER_CHANGE"}}', "NotificationMetadata"),
        (b"[" * 100_000, "not JSON"),
    ],
)
def test_a_body_that_is_no_notification_is_an_invalid_delivery(body: bytes, says: str) -> None:
    with pytest.raises(InvalidDelivery, match=says):
        WEBHOOK.receipt(request(body))


def test_another_notification_type_is_an_invalid_delivery_naming_it() -> None:
    event = load(STATUS_CHANGE)
    event["detail"]["NotificationType"] = "ANY_OFFER_CHANGED"
    with pytest.raises(InvalidDelivery, match="ANY_OFFER_CHANGED"):
        WEBHOOK.receipt(request(json.dumps(event).encode()))


class StubAmazon:
    """A client that answers with documents given (a unit test's stand-in)."""

    def __init__(self, answer: Any = None, error: Exception | None = None) -> None:
        self.answer, self.error = answer, error
        self.asked: list[str] = []

    def order_document(self, order_id: str) -> Any:
        self.asked.append(order_id)
        if self.error is not None:
            raise self.error
        return self.answer


def interpreted(body: bytes, client: Any) -> tuple[Any, ...]:
    delivery = request(body)
    return tuple(interpret(WEBHOOK.receipt(delivery), delivery, client))


def test_a_status_change_is_the_order_read_from_amazon() -> None:
    client = StubAmazon(document("mfn_us"))
    [command] = interpreted(raw(STATUS_CHANGE), client)
    assert client.asked == ["113-4721908-3340257"]
    assert isinstance(command, ChannelOrder)
    assert command.order.external_id == "113-4721908-3340257"


def test_a_buyer_requested_change_is_the_order_then_the_cancel_path() -> None:
    untold = document("buyer_cancel")
    untold["items"][0]["BuyerRequestedCancel"] = {"IsBuyerRequestedCancel": "false"}
    order, cancel = interpreted(raw(BUYER_CANCEL), StubAmazon(untold))
    assert isinstance(order, ChannelOrder)
    assert cancel == ChannelCancelRequest(
        external_id="112-9988776-5544332", reason="Buyer Requested Cancel"
    )


def test_a_notification_for_an_fba_order_reserves_nothing() -> None:
    [command] = interpreted(raw("sqs_order_change_afn.json"), StubAmazon(document("afn_de")))
    assert isinstance(command, ChannelOrder) and command.reserve_stock is False


def test_a_channel_without_an_api_url_cannot_read_the_order_and_parks_it() -> None:
    with pytest.raises(InvalidDelivery, match="no --api-url"):
        interpreted(raw(STATUS_CHANGE), None)


def test_amazon_refusing_the_read_parks_the_delivery_with_its_reason() -> None:
    refused = PermanentError("channel:amazon-us", "NotFound: no such order", status=404)
    with pytest.raises(InvalidDelivery, match="NotFound: no such order"):
        interpreted(raw(STATUS_CHANGE), StubAmazon(error=refused))


def test_an_answer_about_another_order_is_not_taken() -> None:
    with pytest.raises(InvalidDelivery, match="another order"):
        interpreted(raw(STATUS_CHANGE), StubAmazon(document("mfn_jp")))


def test_a_verified_notification_without_an_order_id_is_an_invalid_delivery() -> None:
    event = load(STATUS_CHANGE)
    del event["detail"]["Payload"]["OrderChangeNotification"]["AmazonOrderId"]
    with pytest.raises(InvalidDelivery, match="AmazonOrderId"):
        interpreted(json.dumps(event).encode(), StubAmazon(document("mfn_us")))
