"""Shopify's door: the shop that sent it, its signature over the exact bytes, the delivery's
identity, and what its refunds, fulfillments and other topics mean."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from decimal import Decimal
from typing import Any

import pytest

from adapters.channels import CHANNELS, canonical, shopify
from adapters.channels.shopify_changes import RefundBasis
from adapters.channels.shopify_orders import stock_lines
from adapters.channels.shopify_payloads import Order
from adapters.channels.webhook import Credentials, InvalidDelivery, Receipt
from domain.channel_commands import ChannelRefund, ChannelShipment
from tests.shopify_docs import SECRET, SHOP, delivery, doc, raw

CREDENTIALS = Credentials(channel="acme", secrets=(SECRET,), shop_domain=SHOP)
PLAIN_ORDER = 5820334194882


class FakeShop:
    """The client's one read a refund needs: the order's line items, from the fixture."""

    def __init__(self) -> None:
        self.asked: list[int] = []

    def refund_basis(self, order_id: int) -> RefundBasis:
        self.asked.append(order_id)
        order = Order.model_validate(doc("orders_create"))
        positions = {item.id: n for n, item in stock_lines(order.line_items)}
        return RefundBasis(positions, order.taxes_included)


def test_the_shop_is_identified_by_its_domain_lower_cased() -> None:
    request = delivery(raw("orders_create"), **{"X-Shopify-Shop-Domain": " Acme.MyShopify.com "})

    assert shopify.identify(request) == "acme.myshopify.com"
    assert shopify.identify(delivery(b"{}", **{"X-Shopify-Shop-Domain": ""})) is None


def test_a_delivery_signed_with_the_channels_secret_verifies() -> None:
    body = raw("orders_create")
    expected = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
    request = delivery(body, secret=None, **{"X-Shopify-Hmac-Sha256": expected})

    assert shopify.verify(request, CREDENTIALS) == "hmac-sha256"


def test_the_secret_a_rotation_replaced_still_verifies_and_says_so() -> None:
    rotated = Credentials(channel="acme", secrets=("shpss_new", SECRET))

    assert shopify.verify(delivery(raw("orders_create")), rotated) == (
        "hmac-sha256 (previous secret)"
    )
    assert shopify.verify(delivery(raw("orders_create"), secret="shpss_new"), rotated) == (
        "hmac-sha256"
    )


@pytest.mark.parametrize(
    "request_",
    [
        delivery(raw("orders_create"), secret="shpss_someone_else"),
        delivery(raw("orders_create"), secret=None),
        delivery(raw("orders_create"), secret=None, **{"X-Shopify-Hmac-Sha256": ""}),
        delivery(raw("orders_create"), secret=None, **{"X-Shopify-Hmac-Sha256": "not base64!"}),
    ],
    ids=["wrong secret", "missing", "empty", "garbage"],
)
def test_a_wrong_or_missing_signature_does_not_verify(request_: Any) -> None:
    assert shopify.verify(request_, CREDENTIALS) is None


def test_the_signature_is_over_the_exact_bytes_not_the_json() -> None:
    """The same JSON re-serialised (compact, as a proxy or framework would) fails."""
    body = raw("orders_create")
    signed = delivery(body).headers["X-Shopify-Hmac-Sha256"]
    reserialised = json.dumps(json.loads(body)).encode()
    assert json.loads(reserialised) == json.loads(body)

    request = delivery(reserialised, secret=None, **{"X-Shopify-Hmac-Sha256": signed})

    assert shopify.verify(request, CREDENTIALS) is None


def test_a_channel_without_a_secret_verifies_nothing() -> None:
    unsigned = delivery(raw("orders_create"), secret="")

    assert shopify.verify(unsigned, Credentials(channel="acme", secrets=("",))) is None
    assert shopify.verify(delivery(raw("orders_create")), Credentials(channel="acme")) is None


def test_the_delivery_is_its_event_and_topic() -> None:
    """One merchant action (a refund) fires several topics with one event id: each topic
    is its own delivery; the same topic and event again is the same delivery."""
    refund = shopify.receipt(delivery(b"{}", "refunds/create", event_id="e-1"))
    update = shopify.receipt(delivery(b"{}", "orders/updated", event_id="e-1"))
    again = shopify.receipt(delivery(b"{}", "Refunds/Create", event_id="e-1", webhook_id="w-2"))

    assert refund == Receipt(delivery_id="event:e-1:refunds/create", topic="refunds/create")
    assert update.delivery_id != refund.delivery_id
    assert again == refund


def test_without_an_event_id_the_webhook_id_identifies_the_delivery() -> None:
    assert shopify.receipt(delivery(b"{}", event_id=None, webhook_id="w-1")) == Receipt(
        delivery_id="webhook:w-1", topic="orders/create"
    )


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"event_id": None, "webhook_id": None}, "neither X-Shopify-Event-Id"),
        ({"X-Shopify-Topic": ""}, "X-Shopify-Topic"),
        ({"X-Shopify-Topic": "x" * 65}, "X-Shopify-Topic"),
        ({"event_id": "e" * 300}, "too long"),
    ],
)
def test_a_delivery_without_its_identity_cannot_be_read(
    headers: dict[str, Any], reason: str
) -> None:
    with pytest.raises(InvalidDelivery, match=reason):
        shopify.receipt(delivery(b"{}", **headers))


def test_a_partial_refund_names_its_lines_restocks_and_shipping() -> None:
    shop = FakeShop()
    request = delivery(raw("refunds_create_partial"), "refunds/create")

    (refund,) = shopify.interpret(Receipt("d", "refunds/create"), request, shop)

    assert isinstance(refund, ChannelRefund)
    assert refund.model_dump(mode="json") == {
        "kind": "refund",
        "external_id": str(PLAIN_ORDER),
        "transaction_id": "1019283456706",
        "amount": "36.78",
        "shipping": "5.29",
        "lines": [
            {
                "line_no": 1,
                "quantity": 1,
                "restock_location": "71983808706",
                "net": "17.91",
                "tax": "1.43",
            },
            {"line_no": 2, "quantity": 1, "restock_location": None, "net": "11.25", "tax": "0.90"},
        ],
        "reason": "Returned: one tee too small; mug arrived broken",
    }
    assert shop.asked == [PLAIN_ORDER]


def test_a_refund_line_of_an_order_whose_prices_include_tax_is_its_subtotal_less_the_tax() -> None:
    class TaxInclusiveShop(FakeShop):
        def refund_basis(self, order_id: int) -> RefundBasis:
            return RefundBasis(super().refund_basis(order_id).positions, taxes_included=True)

    request = delivery(raw("refunds_create_partial"), "refunds/create")

    (refund,) = shopify.interpret(Receipt("d", "refunds/create"), request, TaxInclusiveShop())

    assert isinstance(refund, ChannelRefund)
    assert [(ln.net, ln.tax) for ln in refund.lines] == [
        (Decimal("16.48"), Decimal("1.43")),
        (Decimal("10.35"), Decimal("0.90")),
    ]


def test_a_refund_line_without_shopifys_amounts_states_none() -> None:
    document = doc("refunds_create_partial")
    for item in document["refund_line_items"]:
        for name in ("subtotal", "subtotal_set"):
            item.pop(name)
    body = json.dumps(document, default=str).encode()

    (refund,) = shopify.interpret(Receipt("d", "refunds/create"), delivery(body), FakeShop())

    assert isinstance(refund, ChannelRefund)
    assert [(ln.net, ln.tax) for ln in refund.lines] == [(None, None), (None, None)]


def test_a_refund_of_money_only_needs_no_order() -> None:
    document = doc("refunds_create_partial")
    document["refund_line_items"] = []
    document["transactions"][0]["amount"] = "5.29"

    (refund,) = shopify.interpret(
        Receipt("d", "refunds/create"), delivery(json.dumps(document, default=str).encode()), None
    )

    assert isinstance(refund, ChannelRefund)
    assert (refund.amount, refund.shipping, refund.lines) == (Decimal("5.29"), Decimal("5.29"), [])


def test_a_refund_of_lines_without_the_channels_api_is_parked() -> None:
    with pytest.raises(InvalidDelivery, match="--api-url"):
        shopify.interpret(
            Receipt("d", "refunds/create"), delivery(raw("refunds_create_partial")), None
        )


def test_a_failed_refund_transaction_gives_nothing_back() -> None:
    document = doc("refunds_create_partial")
    document["transactions"][0]["status"] = "failure"
    document["order_adjustments"] = []

    (refund,) = shopify.interpret(
        Receipt("d", "refunds/create"),
        delivery(json.dumps(document, default=str).encode()),
        FakeShop(),
    )

    assert isinstance(refund, ChannelRefund) and refund.amount == 0


def test_a_refund_of_more_shipping_than_money_is_refused() -> None:
    document = doc("refunds_create_partial")
    document["transactions"][0]["amount"] = "1.00"

    with pytest.raises(InvalidDelivery, match="shipping"):
        shopify.interpret(
            Receipt("d", "refunds/create"),
            delivery(json.dumps(document, default=str).encode()),
            FakeShop(),
        )


def test_a_refund_of_a_line_the_order_lacks_is_refused() -> None:
    document = doc("refunds_create_partial")
    document["refund_line_items"][0]["line_item_id"] = 1

    with pytest.raises(InvalidDelivery, match="line item 1 is not a line of order"):
        shopify.interpret(
            Receipt("d", "refunds/create"),
            delivery(json.dumps(document, default=str).encode()),
            FakeShop(),
        )


def test_a_fulfillment_is_a_shipment_of_its_lines_with_tracking() -> None:
    request = delivery(raw("fulfillments_create"), "fulfillments/create")

    (shipment,) = shopify.interpret(Receipt("d", "fulfillments/create"), request, None)

    assert isinstance(shipment, ChannelShipment)
    assert shipment.model_dump(mode="json") == {
        "kind": "shipment",
        "external_id": str(PLAIN_ORDER),
        "shipment_ref": "5287091077314",
        "location": None,
        "carrier": "UPS",
        "tracking_number": "1Z999AA10123456784",
        "lines": [{"sku": "TEE-M-BLK", "quantity": 2}, {"sku": "MUG-WHT", "quantity": 1}],
    }


def test_a_fulfillment_without_tracking_is_referenced_by_its_name() -> None:
    document = doc("fulfillments_create")
    document.update(tracking_company=None, tracking_number=None, tracking_numbers=[])
    request = delivery(json.dumps(document, default=str).encode(), "fulfillments/create")

    (shipment,) = shopify.interpret(Receipt("d", "fulfillments/create"), request, None)

    assert isinstance(shipment, ChannelShipment)
    assert (shipment.carrier, shipment.tracking_number) == ("unknown", "#1001.1")


@pytest.mark.parametrize("status", ["pending", "open", "cancelled", "failure"])
def test_a_fulfillment_that_has_not_succeeded_is_ignored(status: str) -> None:
    document = {**doc("fulfillments_create"), "status": status}
    request = delivery(json.dumps(document, default=str).encode(), "fulfillments/create")

    assert shopify.interpret(Receipt("d", "fulfillments/create"), request, None) == ()


@pytest.mark.parametrize("topic", ["products/update", "orders/paid", "app/uninstalled"])
def test_other_topics_are_ignored(topic: str) -> None:
    request = delivery(raw("orders_create"), topic)

    assert shopify.interpret(Receipt("d", topic), request, None) == ()


@pytest.mark.parametrize(
    "body", [b"", b"not json", b"[1, 2]", b'"order"', b"\xff\xfe", b"[" * 100_000]
)
def test_a_body_that_is_not_a_json_object_cannot_be_read(body: bytes) -> None:
    with pytest.raises(InvalidDelivery, match="JSON"):
        shopify.interpret(Receipt("d", "orders/create"), delivery(body), None)


def test_the_kind_is_registered_with_its_door_and_takes_back_what_canonical_does() -> None:
    kind = CHANNELS["shopify"]

    assert kind is shopify.KIND
    assert (kind.verification, kind.speaks_as, kind.webhook) == (
        "hmac-sha256",
        None,
        shopify.KIND.webhook,
    )
    assert kind.targets == canonical.KIND.targets
    assert kind.list_orders is not None


def _order_command(document: dict[str, Any]) -> Any:
    body = json.dumps(document, default=str).encode()
    (command,) = shopify.interpret(Receipt("d", "orders/updated"), delivery(body), None)
    return command


def test_a_partially_paid_order_says_what_shopify_captured_of_it() -> None:
    document = {
        **doc("orders_create"),
        "financial_status": "partially_paid",
        "current_total_price": "56.13",
        "total_outstanding": "26.13",
    }

    command = _order_command(document)

    assert command.captured == Decimal("30.00")
    assert command.order.payment.status == "authorized"  # the rest is still promised
    assert _order_command({**document, "financial_status": "paid"}).captured is None
    assert _order_command({**document, "total_outstanding": "60.00"}).captured == 0


def test_a_partially_paid_order_in_the_buyers_currency_states_no_capture() -> None:
    # total_outstanding is in the shop's currency only: it cannot be read exactly.
    document = {
        **doc("orders_create_multi_currency"),
        "financial_status": "partially_paid",
        "total_outstanding": "10.00",
    }

    assert _order_command(document).captured is None
