"""The Square kind, inbound: its signature over URL + raw bytes, its receipt, and what its
RetrieveOrder documents normalize to (the fixtures follow Square's public reference)."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from adapters.channels import CHANNELS, square
from adapters.channels.square_orders import commands_of
from adapters.channels.webhook import (
    Credentials,
    InboundRequest,
    InvalidDelivery,
    hmac_sha256_base64,
)
from adapters.systems.errors import PermanentError
from domain.channel_commands import ChannelOrder, PosSale
from domain.normalize import build_order
from domain.pos_sales import sale_order

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "square"
URL = "https://shop.example.com/v1/webhooks/square/square-nyc"
KEY = "Wq1Zk3x8sT5bV0nC2mL7pR4a"
OLD_KEY = "old-signature-key-0000"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_bytes(), parse_float=Decimal)


CATALOG = {
    obj["id"]: obj["item_variation_data"]["sku"]
    for obj in fixture("catalog_objects.json")["objects"]
}


def signed(body: bytes, *, key: str = KEY, url: str = URL) -> InboundRequest:
    signature = hmac_sha256_base64(key, url.encode(), body)
    return InboundRequest(body, {"X-Square-HmacSha256-Signature": signature}, "application/json")


def credentials(*secrets: str, url: str | None = URL) -> Credentials:
    return Credentials("square-nyc", secrets=secrets or (KEY,), notification_url=url)


def one(document: Any, **kwargs: Any) -> Any:
    [command] = commands_of(document, CATALOG, **kwargs)
    return command


# The signature


def test_the_registry_has_the_square_kind_with_its_own_door() -> None:
    kind = CHANNELS["square"]
    assert kind is square.KIND and kind.webhook is square.WEBHOOK
    assert kind.verification == "hmac-sha256" and kind.speaks_as is None


def test_a_notification_signed_over_url_and_body_is_verified() -> None:
    body = (FIXTURES / "webhook_order_updated.json").read_bytes()
    assert square.verify(signed(body), credentials()) == "hmac-sha256"


def test_the_previous_key_is_still_good_and_says_so() -> None:
    body = (FIXTURES / "webhook_order_updated.json").read_bytes()
    request = signed(body, key=OLD_KEY)
    assert square.verify(request, credentials(KEY, OLD_KEY)) == "hmac-sha256 (previous secret)"


def test_a_wrong_key_a_missing_header_or_no_url_verify_nothing() -> None:
    body = (FIXTURES / "webhook_order_updated.json").read_bytes()
    assert square.verify(signed(body, key="another"), credentials()) is None
    assert square.verify(InboundRequest(body, {}), credentials()) is None
    assert square.verify(signed(body), credentials(url=None)) is None
    garbage = InboundRequest(body, {"x-square-hmacsha256-signature": "not base64 at all"})
    assert square.verify(garbage, credentials()) is None


def test_a_signature_for_another_url_does_not_verify() -> None:
    body = (FIXTURES / "webhook_order_updated.json").read_bytes()
    request = signed(body, url=URL.replace("square-nyc", "square-sf"))
    assert square.verify(request, credentials()) is None


def test_the_body_re_serialised_does_not_verify() -> None:
    raw = (FIXTURES / "webhook_order_updated.json").read_bytes()
    signature = signed(raw).header(square.SIGNATURE_HEADER)
    assert signature is not None
    for again in (
        json.dumps(json.loads(raw)).encode(),  # the same JSON, other spacing
        json.dumps(json.loads(raw), ensure_ascii=False, indent=2).encode(),
        raw + b"\n",
    ):
        assert again != raw
        request = InboundRequest(again, {square.SIGNATURE_HEADER: signature})
        assert square.verify(request, credentials()) is None


def test_square_names_no_channel_by_header() -> None:
    body = (FIXTURES / "webhook_order_updated.json").read_bytes()
    assert square.identify(signed(body)) is None
    assert not square.WEBHOOK.ping(signed(body))


# The receipt


def test_the_receipt_is_the_event_id_and_the_type() -> None:
    receipt = square.receipt(signed((FIXTURES / "webhook_order_created.json").read_bytes()))
    assert (receipt.delivery_id, receipt.topic) == (
        "4b8e5c91-9f17-4cf1-900a-4a0629f81add",
        "order.created",
    )


@pytest.mark.parametrize("body", [b"", b"{", b"[]", b'{"type": "order.updated"}', b"\xff"])
def test_a_verified_body_that_is_not_a_notification_is_an_invalid_delivery(body: bytes) -> None:
    with pytest.raises(InvalidDelivery):
        square.receipt(signed(body))


# Normalization


def test_a_shipped_order_normalizes_to_its_canonical_order() -> None:
    command = one(fixture("order_shipment_usd.json"))
    assert isinstance(command, ChannelOrder)
    order = command.order
    assert (order.external_id, order.currency) == ("CAISENgvlJ6jLWAzERDzjyHVybY", "USD")
    assert [(ln.sku, ln.quantity, ln.unit_price, ln.discount, ln.tax) for ln in order.lines] == [
        ("TEE-M-BLK", 2, Decimal("25.00"), Decimal("5.00"), Decimal("3.99")),
        ("TOTE-NAT", 1, Decimal("18.00"), Decimal("0.00"), Decimal("1.60")),
        ("STICKER-01", 3, Decimal("0.00"), Decimal("0.00"), Decimal("0.00")),  # zero-priced
    ]
    assert order.shipping is not None
    assert (order.shipping.method, order.shipping.amount, order.shipping.tax) == (
        "shipment",
        Decimal("5.99"),
        Decimal("0.53"),
    )
    assert order.totals.grand_total == Decimal("75.11")
    assert order.payment is not None and order.payment.status == "paid"
    assert order.customer.email == "jose.pena@example.com"
    assert order.customer.name == "José Peña Núñez"
    address = order.shipping_address
    assert (address.line1, address.line2, address.city, address.region) == (
        "350 5th Ave",
        "Apt 2B",
        "New York",
        "NY",
    )
    assert (address.postal_code, address.country) == ("10118", "US")
    assert (command.version_no, command.cancelled, command.reserve_stock) == (4, False, True)
    assert command.version_at.isoformat() == "2026-11-26T15:02:14.003000+00:00"
    built = build_order(order, channel="square-nyc")  # the totals add up, exactly
    assert built.totals["grand_total"] == "75.11" and built.totals["tax_total"] == "6.12"


def test_version_bumps_keep_square_s_version_as_the_tie_breaker() -> None:
    v4 = one(fixture("order_shipment_usd.json"))
    v5 = one(fixture("order_shipment_usd_v5.json"))
    v6 = one(fixture("order_shipment_usd_canceled_v6.json"))
    assert [c.version_no for c in (v4, v5, v6)] == [4, 5, 6]
    assert v4.version_at < v5.version_at < v6.version_at
    assert v5.order.lines[0].quantity == 1 and v5.order.totals.grand_total == Decimal("50.62")
    assert (v5.cancelled, v6.cancelled) == (False, True)


def test_inclusive_vat_becomes_exact_prices_before_tax_with_a_gift_card_and_a_tip() -> None:
    command = one(fixture("order_pickup_gbp_inclusive_vat.json"))
    order = command.order
    assert [(ln.sku, ln.quantity, ln.unit_price, ln.discount, ln.tax) for ln in order.lines] == [
        # 3 × £12.99 with £6.50 VAT inside: £10.83 a unit before tax, 2p of rounding
        ("BEANS-FW-250", 3, Decimal("10.83"), Decimal("0.02"), Decimal("6.50")),
        ("GIFT_CARD", 1, Decimal("25.00"), Decimal("0.00"), Decimal("0.00")),
        # £18.00 less 10% = £16.20 with £2.70 VAT inside
        ("MUG-OSAKA-IND", 1, Decimal("15.30"), Decimal("1.80"), Decimal("2.70")),
    ]
    assert order.shipping is not None
    assert (order.shipping.method, order.shipping.amount) == ("pickup", Decimal("2.00"))  # tip
    built = build_order(order, channel="square-ldn")
    assert built.totals["grand_total"] == "82.17"
    assert [str(line.total) for line in built.lines] == ["38.97", "25.00", "16.20"]
    assert order.customer.name == "Siobhán O’Connor"
    assert order.shipping_address.country == "ZZ"  # a pickup: the location, not an address


def test_a_sale_completed_at_the_counter_is_a_pos_sale_at_the_channels_store() -> None:
    command = one(fixture("order_counter_sale_jpy.json"), store="STORE-TOKYO")
    assert isinstance(command, PosSale)
    assert (command.sale_id, command.location, command.currency) == (
        "kLuDoCgz9oW2fD7MhH5DJRqZm5eZY",
        "STORE-TOKYO",
        "JPY",
    )
    assert [(ln.sku, ln.quantity, ln.unit_price, ln.tax) for ln in command.lines] == [
        ("MATCHA-LATTE-TO", 2, Decimal("550"), Decimal("88")),
        ("DORAYAKI-TSUBU", 1, Decimal("240"), Decimal("19")),
    ]
    assert (command.payment_method, command.total) == ("cash", Decimal("1447"))
    order = sale_order(command, channel="square-tokyo")
    assert order.totals["grand_total"] == "1447"
    assert one(fixture("order_counter_sale_jpy.json")).location == "LQ8Z2F0PM3W7D"


def test_a_hundred_and_twenty_lines_all_come_through_named_by_their_variation() -> None:
    order = one(fixture("order_120_lines_eur.json")).order
    assert len(order.lines) == 120
    assert order.lines[0].sku == "PIN001VARIATIONXXXXXXXXX"  # no SKU in the catalog
    assert sum(ln.quantity for ln in order.lines) == 137
    built = build_order(order, channel="square-mad")
    assert built.totals["grand_total"] == str(order.totals.grand_total) == "497.31"
    assert order.shipping_address.name == "María José Fernández-Ávila"


def test_an_order_without_its_optional_blocks_is_still_an_order() -> None:
    command = one(fixture("order_minimal_open.json"))
    order = command.order
    assert [(ln.sku, ln.unit_price) for ln in order.lines] == [("CUSTOM_AMOUNT", Decimal("10.00"))]
    assert order.payment is not None and order.payment.status == "pending"
    assert order.customer.email == "walk-in@l88917avbk2s5.square.invalid"
    assert order.shipping is None
    build_order(order, channel="square-nyc")


def test_a_draft_is_not_an_order_yet() -> None:
    assert commands_of(fixture("order_draft.json"), CATALOG) == []


def test_without_the_catalog_a_line_is_named_by_its_catalog_object_id() -> None:
    [command] = commands_of(fixture("order_shipment_usd.json"), {})
    assert command.order.lines[0].sku == "W62UWFY35CWMYGVWK6TWJDNI"


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("line_items", 0, "quantity"), "1.5"),  # a weighed quantity
        (("line_items", 0, "total_money", "amount"), 4898),  # lines that do not add up
        (("line_items", 0, "total_money", "amount"), Decimal("4899.0")),  # a float
        (("line_items", 1, "total_money", "currency"), "EUR"),  # two currencies
        (("total_money", "amount"), 7512),
        (("total_money", "currency"), "XAU"),
        (("state",), "SHIPPED"),
        (("line_items",), []),
    ],
)
def test_an_order_that_cannot_be_read_is_refused_by_name(path: tuple[Any, ...], value: Any) -> None:
    document = fixture("order_shipment_usd.json")
    target = document["order"]
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    with pytest.raises((ValidationError, InvalidDelivery)):
        commands_of(document, CATALOG)


# interpret, with a client that answers as Square would


class FakeSquare:
    store = "STORE-NYC"

    def __init__(self, orders: dict[str, Any]) -> None:
        self.orders = orders
        self.catalog_asked: list[list[str]] = []

    def retrieve_order(self, order_id: str) -> Any:
        if order_id not in self.orders:
            raise PermanentError("channel:square-nyc", "NOT_FOUND", status=404)
        return self.orders[order_id]

    def variation_skus(self, ids: list[str]) -> dict[str, str]:
        self.catalog_asked.append(list(ids))
        return {i: CATALOG[i] for i in ids if i in CATALOG}


def test_interpret_fetches_the_order_a_notification_names_and_its_skus() -> None:
    request = signed((FIXTURES / "webhook_order_updated.json").read_bytes())
    client = FakeSquare({"CAISENgvlJ6jLWAzERDzjyHVybY": fixture("order_shipment_usd_v5.json")})
    [command] = square.interpret(square.receipt(request), request, client)
    assert command.version_no == 5 and command.order.lines[0].sku == "TEE-M-BLK"
    assert client.catalog_asked == [
        ["AII3HLTHJ2XFFXDSLSFJR3ZR", "LBTYIHNHU7FJPZG5PMQEQXIA", "W62UWFY35CWMYGVWK6TWJDNI"]
    ]


def test_an_order_square_does_not_have_parks_the_delivery() -> None:
    request = signed((FIXTURES / "webhook_order_updated.json").read_bytes())
    with pytest.raises(InvalidDelivery, match="404"):
        square.interpret(square.receipt(request), request, FakeSquare({}))
    with pytest.raises(InvalidDelivery, match="api-url"):
        square.interpret(square.receipt(request), request, None)


def test_a_topic_the_product_takes_nothing_from_means_nothing() -> None:
    note = fixture("webhook_order_updated.json")
    note["type"] = "inventory.count.updated"
    request = signed(json.dumps(note).encode())
    assert square.interpret(square.receipt(request), request, FakeSquare({})) == []


# Whatever arrives: a command or a validation error, never another exception

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.decimals(allow_nan=False, allow_infinity=False, places=3)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=25,
)
KEYS_OF_SQUARE = st.sampled_from(
    ["order", "line_items", "total_money", "amount", "currency", "quantity", "state", "taxes"]
)


def _normalizes_or_refuses(document: Any) -> None:
    try:
        commands = commands_of(document, CATALOG, store="STORE-NYC")
    except (ValidationError, InvalidDelivery):
        return
    for command in commands:
        if isinstance(command, ChannelOrder):
            built = build_order(command.order, channel="square-nyc")
            assert built.totals["grand_total"] == str(command.order.totals.grand_total)


@given(JSON | st.dictionaries(KEYS_OF_SQUARE, JSON, max_size=4))
def test_arbitrary_json_normalizes_or_raises_a_validation_error(document: Any) -> None:
    _normalizes_or_refuses(document)
    _normalizes_or_refuses({"order": document})


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


FIXTURE_NAMES = [
    "order_shipment_usd.json",
    "order_pickup_gbp_inclusive_vat.json",
    "order_counter_sale_jpy.json",
    "order_minimal_open.json",
]


@given(
    name=st.sampled_from(FIXTURE_NAMES),
    picks=st.lists(st.tuples(st.integers(0, 10**6), st.booleans(), JSON), min_size=1, max_size=3),
)
def test_mutated_orders_normalize_or_raise_a_validation_error(
    name: str, picks: list[tuple[int, bool, Any]]
) -> None:
    document = copy.deepcopy(fixture(name))
    for index, remove, value in picks:
        paths = _paths(document)
        if not paths:
            break
        *parents, last = paths[index % len(paths)]
        target = document
        for part in parents:
            target = target[part]
        if remove and isinstance(target, dict):
            del target[last]
        else:
            target[last] = value
    _normalizes_or_refuses(document)
