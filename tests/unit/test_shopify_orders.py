"""Shopify's order webhooks as canonical ChannelOrders: every fixture to the exact command,
its money checked again by the canonical rules (domain.normalize.build_order)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from adapters.channels import CHANNELS, shopify
from adapters.channels.shopify_orders import place_order
from adapters.channels.shopify_payloads import Order
from adapters.channels.webhook import InvalidDelivery, Receipt
from domain.channel_commands import ChannelOrder
from domain.normalize import build_order
from tests.shopify_docs import delivery, doc, raw

NEW_YORK = timezone(timedelta(hours=-5))
BROOKLYN = {
    "name": "Jane Doe",
    "line1": "123 Main Street",
    "line2": None,
    "city": "Brooklyn",
    "postal_code": "11201",
    "region": "NY",
    "country": "US",
}
NO_TOTALS = {"subtotal": None, "discount_total": None, "tax_total": None, "shipping_total": None}


def interpret(body: bytes, topic: str = "orders/create") -> ChannelOrder:
    commands = shopify.interpret(Receipt("d-1", topic), delivery(body, topic), None)
    (command,) = commands
    assert isinstance(command, ChannelOrder)
    return command


def order_of(name: str, topic: str = "orders/create") -> ChannelOrder:
    return interpret(raw(name), topic)


def body(document: dict[str, Any]) -> bytes:
    return json.dumps(document, default=str).encode()


def money_checked(command: ChannelOrder) -> dict[str, str]:
    """The canonical totals of the order (build_order refuses what does not add up)."""
    return build_order(command.order, channel="shop").totals


def test_a_plain_order_is_the_canonical_order_to_the_cent() -> None:
    command = order_of("orders_create")

    assert command.order.b2b is None  # a canonical order's terms: Shopify never sends them
    assert command.order.model_dump(mode="json", exclude={"b2b"}) == {
        "external_id": "5820334194882",
        "placed_at": "2026-11-26T15:00:00Z",
        "currency": "USD",
        "customer": {"email": "jane.doe@example.com", "name": "Jane Doe", "phone": "+17185550142"},
        "shipping_address": {**BROOKLYN},
        "billing_address": {**BROOKLYN},
        "lines": [
            {
                "sku": "TEE-M-BLK",
                "quantity": 2,
                "unit_price": "19.90",
                "discount": "3.98",
                "tax": "2.87",
            },
            {
                "sku": "MUG-WHT",
                "quantity": 1,
                "unit_price": "12.50",
                "discount": "1.25",
                "tax": "0.90",
            },
        ],
        "shipping": {"method": "Standard Shipping", "amount": "4.90", "tax": "0.39"},
        "payment": {"method": "shopify_payments", "status": "authorized", "amount": "56.13"},
        "totals": {"grand_total": "56.13", **NO_TOTALS},
    }
    assert (command.version_at, command.version_no) == (
        datetime(2026, 11, 26, 10, 0, 2, tzinfo=NEW_YORK),
        0,
    )
    assert (command.cancelled, command.reserve_stock) == (False, True)
    assert money_checked(command) == {
        "subtotal": "52.30",
        "discount_total": "5.23",
        "tax_total": "4.16",
        "shipping_total": "4.90",
        "grand_total": "56.13",
    }


def test_an_update_is_a_newer_version_of_the_same_order() -> None:
    created, updated = order_of("orders_create"), order_of("orders_updated", "orders/updated")

    assert updated.order.external_id == created.order.external_id
    assert updated.version_at - created.version_at == timedelta(hours=2, minutes=4, seconds=29)
    assert updated.order.shipping_address.line2 == "Apt 4B"
    assert updated.order.payment is not None and updated.order.payment.status == "paid"
    assert updated.order.lines == created.order.lines


def test_an_update_that_arrives_first_is_the_later_version_in_full() -> None:
    """The core creates the order from whichever comes first and keeps the newer: the
    update, read alone, is the whole order in its final state."""
    early = order_of("orders_updated_before_create", "orders/updated")
    late = order_of("orders_create_after_update")

    assert early.order.external_id == late.order.external_id == "5820334424258"
    assert early.version_at > late.version_at
    assert early.order.shipping_address.line1 == "77 Atlantic Avenue"
    assert late.order.shipping_address.line1 == "123 Main Street"
    assert early.order.payment is not None and early.order.payment.status == "paid"
    assert money_checked(early)["grand_total"] == "43.98"


def test_a_cancelled_order_is_the_order_cancelled() -> None:
    command = order_of("orders_cancelled", "orders/cancelled")

    assert command.cancelled is True
    assert command.version_at == datetime(2026, 11, 26, 17, 2, 18, tzinfo=UTC)
    assert command.order.payment is not None and command.order.payment.status == "refunded"


def test_an_update_with_cancelled_at_is_cancelled_too() -> None:
    document = doc("orders_cancelled")

    assert interpret(body(document), "orders/updated").cancelled is True
    assert interpret(raw("orders_updated"), "orders/updated").cancelled is False


def test_a_foreign_currency_order_is_taken_in_the_customers_currency() -> None:
    """The shop books USD; the customer paid EUR: the presentment amounts, not the shop's."""
    command = order_of("orders_create_multi_currency")
    order = command.order

    assert order.currency == "EUR"
    assert [(ln.unit_price, ln.tax) for ln in order.lines] == [(Decimal("54.95"), Decimal("10.44"))]
    assert order.shipping is not None
    assert (order.shipping.amount, order.shipping.tax) == (Decimal("9.95"), Decimal("1.89"))
    assert order.totals.grand_total == Decimal("77.23")  # the shop's figure is 82.92 USD
    assert order.shipping_address.country == "DE"
    assert order.shipping_address.line1 == "Torstraße 118"
    assert money_checked(command)["grand_total"] == "77.23"


def test_a_foreign_currency_order_without_its_presentment_amounts_is_refused() -> None:
    document = doc("orders_create_multi_currency")
    del document["line_items"][0]["price_set"]

    with pytest.raises(InvalidDelivery, match=r"line_items\.0\.price: only the shop-currency"):
        interpret(body(document))


def test_zero_priced_lines_stay_lines() -> None:
    command = order_of("orders_create_zero_priced")

    assert [(ln.sku, ln.unit_price, ln.discount, ln.tax) for ln in command.order.lines] == [
        ("STICKER-PACK", Decimal("0.00"), Decimal("0.00"), Decimal("0.00")),
        ("TEE-S-WHT", Decimal("19.90"), Decimal("19.90"), Decimal("0.00")),
        ("CAP-BLK", Decimal("24.00"), Decimal("0.00"), Decimal("1.92")),
    ]
    assert command.order.shipping is not None and command.order.shipping.amount == 0
    assert command.order.billing_address is None
    assert money_checked(command)["grand_total"] == "25.92"


def test_an_order_of_120_lines_keeps_every_line_in_order() -> None:
    command = order_of("orders_create_many_lines")
    lines = command.order.lines

    assert [ln.sku for ln in lines] == [f"PART-{n:03d}" for n in range(1, 121)]
    assert (lines[0].quantity, lines[0].unit_price, lines[0].tax) == (
        2,
        Decimal("3.65"),
        Decimal("0.51"),
    )
    assert money_checked(command)["grand_total"] == "3081.68"
    assert command.order.customer.name == "Carlos Ramírez"
    assert command.order.shipping_address.name == "Carlos Ramírez"


def test_unicode_yen_and_prices_with_tax_included_are_converted_exactly() -> None:
    """Yen have no decimals, and Japanese prices include the 10% consumption tax: each
    line's net (price × quantity − discount − tax) is kept, at a unit price net of tax."""
    command = order_of("orders_create_unicode")
    order = command.order

    assert order.currency == "JPY"
    assert [ln.model_dump(mode="json") for ln in order.lines] == [
        {
            "sku": "MATCHA-SET-01",
            "quantity": 3,
            "unit_price": "3000",
            "discount": "300",
            "tax": "870",
        },
        {"sku": "HASHI-黒", "quantity": 1, "unit_price": "1100", "discount": "0", "tax": "110"},
    ]
    assert order.shipping is not None
    assert (order.shipping.method, order.shipping.amount, order.shipping.tax) == (
        "ヤマト運輸 宅急便",
        Decimal("800"),
        Decimal("80"),
    )
    assert order.shipping_address.model_dump() == {
        "name": "山田 太郎",
        "line1": "神南1-2-3 渋谷ビル5階",
        "line2": None,
        "city": "渋谷区",
        "postal_code": "150-0041",
        "region": "JP-13",
        "country": "JP",
    }
    assert order.customer.name == "太郎 山田"
    totals = money_checked(command)
    assert (totals["grand_total"], totals["tax_total"]) == ("11660", "1060")  # Shopify's own


def test_tax_included_prices_that_do_not_divide_evenly_keep_the_line_total() -> None:
    """3 × 9.99 with 19% VAT included: 29.97 of which 4.79 tax leaves 25.18 net, not a
    multiple of 3 cents; the unit price is rounded up and the discount takes the rest."""
    document = doc("orders_create_unicode")
    document.update(currency="EUR", presentment_currency="EUR", total_price="29.97")
    document.update(total_tax="4.79", shipping_lines=[], total_price_set=None, total_tax_set=None)
    item = document["line_items"][0]
    item.update(price="9.99", price_set=None, discount_allocations=[], quantity=3)
    item["tax_lines"] = [{"price": "4.79", "rate": Decimal("0.19"), "title": "MwSt"}]
    document["line_items"] = [item]

    (line,) = interpret(body(document)).order.lines

    assert (line.unit_price, line.quantity, line.discount, line.tax) == (
        Decimal("8.40"),
        3,
        Decimal("0.02"),
        Decimal("4.79"),
    )
    assert line.unit_price * 3 - line.discount + line.tax == Decimal("29.97")


def test_missing_optional_blocks_are_filled_from_what_is_there() -> None:
    """No customer, no billing address, no shipping lines, no phone: the order's email,
    the shipping address's name, no shipping, no billing address."""
    command = order_of("orders_create_minimal")
    order = command.order

    assert order.customer.model_dump() == {
        "email": "alex.kim@example.com",
        "name": "Alex Kim",
        "phone": None,
    }
    assert order.billing_address is None and order.shipping is None
    assert order.payment is not None
    assert (order.payment.method, order.payment.status) == ("manual", "pending")
    assert money_checked(command)["grand_total"] == "8.00"


def test_an_order_without_a_shipping_address_ships_to_its_billing_address() -> None:
    document = doc("orders_create")
    document["shipping_address"] = None

    order = interpret(body(document)).order

    assert order.shipping_address == order.billing_address


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"shipping_address": None, "billing_address": None}, "neither a shipping nor a billing"),
        ({"email": None, "contact_email": None, "customer": None}, "no email"),
        ({"total_price": "56.14", "total_price_set": None}, "total_price is 56.14 but .* 56.13"),
        ({"total_tax": "4.15", "total_tax_set": None}, "total_tax is 4.15 but .* 4.16"),
        ({"financial_status": "teleported"}, "financial_status 'teleported' is not known"),
        ({"presentment_currency": "XTS", "currency": "XTS"}, "XTS is not supported"),
    ],
)
def test_an_order_that_cannot_be_taken_as_it_is_says_why(
    change: dict[str, Any], reason: str
) -> None:
    document = {**doc("orders_create"), **change}

    with pytest.raises(InvalidDelivery, match=reason):
        interpret(body(document))


def test_gift_cards_sold_are_no_lines_and_leave_the_grand_total() -> None:
    command = order_of("orders_create_gift_card")

    assert [ln.sku for ln in command.order.lines] == ["TEE-M-BLK"]
    assert command.order.totals.grand_total == Decimal("26.78")  # Shopify's 76.78 less 50.00
    assert command.order.payment is not None
    assert command.order.payment.method == "gift_card + shopify_payments"
    assert command.order.payment.amount == Decimal("26.78")
    assert money_checked(command)["grand_total"] == "26.78"


def test_an_order_of_gift_cards_only_is_ignored() -> None:
    document = doc("orders_create_gift_card")
    card = document["line_items"][0]
    document["line_items"] = [card]
    document["shipping_lines"] = []
    document.update(total_price="50.00", total_price_set=None, total_tax="0.00", total_tax_set=None)

    assert shopify.interpret(Receipt("d", "orders/create"), delivery(body(document)), None) == ()


def test_ids_beyond_two_to_the_53_stay_exact() -> None:
    command = order_of("orders_create_64bit_ids")

    assert command.order.external_id == "9007199254740993"  # a float would say ...992
    assert str(float(9007199254740993)) != "9007199254740993"


def test_a_line_without_a_sku_is_named_by_its_variant() -> None:
    document = doc("orders_create_64bit_ids")
    document["line_items"][0]["sku"] = ""

    (first, _) = interpret(body(document)).order.lines

    assert first.sku == "variant:9223372036854775807"


def test_a_line_with_neither_sku_nor_variant_is_refused() -> None:
    document = doc("orders_create")
    document["line_items"][1].update(sku=None, variant_id=None)

    with pytest.raises(InvalidDelivery, match=r"line item 13498231816386 .* neither a SKU"):
        interpret(body(document))


def test_a_float_where_shopify_sends_an_id_is_refused() -> None:
    document = doc("orders_create")
    raw_body = body(document).replace(b'"id": 5820334194882', b'"id": 5820334194882.0', 1)

    with pytest.raises(ValidationError):
        interpret(raw_body)


def test_the_reconciliation_normalizer_takes_a_listed_order_or_raises_a_validation_error() -> None:
    kind = CHANNELS["shopify"]
    good = kind.normalize(doc("orders_create"))
    bad = copy.deepcopy(doc("orders_create"))
    bad["total_price"], bad["total_price_set"] = "1.00", None

    assert good == order_of("orders_create").order
    with pytest.raises(ValidationError, match=r"total_price is 1\.00"):
        kind.normalize(bad)
    with pytest.raises(ValidationError):
        kind.normalize({"id": "not an order"})


def test_the_payload_model_reads_money_strings_as_decimals() -> None:
    order = Order.model_validate(doc("orders_create"))

    assert order.total_price == Decimal("56.13")
    assert order.line_items[0].tax_lines[0].rate == Decimal("0.08")
    assert place_order(order) == order_of("orders_create").order
