"""An Amazon order (getOrder + every getOrderItems page) becomes the exact canonical
commands: totals, lines, SKUs, addresses, status, stock; bad documents are refused by
name."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from adapters.channels.amazon_normalize import normalize, order_commands
from domain.channel_commands import ChannelCancelRequest, ChannelOrder
from domain.normalize import build_order
from tests.unit.amazon_fixtures import ORDERS, document


def dumped(name: str, **flags: Any) -> list[dict[str, Any]]:
    commands = [c.model_dump(mode="json") for c in order_commands(document(name), **flags)]
    for command in commands:
        if "order" in command:  # Amazon never sends B2B terms (a canonical order's field)
            assert command["order"].pop("b2b") is None
    return commands


def line(sku: str, quantity: int, unit: str, discount: str, tax: str) -> dict[str, Any]:
    return {"sku": sku, "quantity": quantity, "unit_price": unit, "discount": discount, "tax": tax}


def totals(grand: str) -> dict[str, Any]:
    return {
        "grand_total": grand,
        "subtotal": None,
        "discount_total": None,
        "tax_total": None,
        "shipping_total": None,
    }


def test_a_us_merchant_fulfilled_order_is_priced_before_tax_and_reserves_our_stock() -> None:
    [command] = dumped("mfn_us")
    assert command == {
        "kind": "order",
        "version_at": "2026-11-26T10:02:47Z",
        "version_no": 0,
        "cancelled": False,
        "reserve_stock": True,
        "captured": None,  # paid up front: the payment's status says it all
        "order": {
            "external_id": "113-4721908-3340257",
            "placed_at": "2026-11-26T09:58:12Z",
            "currency": "USD",
            "customer": {
                "email": "q8m2v5x1lt0r9ks@marketplace.amazon.com",
                "name": "Dana Whitfield",
                "phone": "+1 206-555-0142",
            },
            "shipping_address": {
                "name": "Dana Whitfield",
                "line1": "2127 8th Ave",
                "line2": "Apt 4B",
                "city": "Seattle",
                "postal_code": "98121-2706",
                "region": "WA",
                "country": "US",
            },
            "billing_address": None,
            "lines": [
                # ItemPrice 39.80 for two, PromotionDiscount 4.00 (its tax 0.33 off ItemTax 3.28)
                line("TEE-M-BLK", 2, "19.90", "4.00", "2.95"),
                line("MUG-WHT-11OZ", 1, "12.50", "0.00", "1.03"),
                line("STICKER-PACK", 1, "0.00", "0.00", "0.00"),  # the free promotional item
            ],
            # 5.99 shipping and the mug's 3.99 gift wrap, whose tax is 0.33
            "shipping": {"method": "Standard", "amount": "9.98", "tax": "0.33"},
            "payment": {"method": "amazon", "status": "paid", "amount": "62.59"},
            "totals": totals("62.59"),
        },
    }


def test_an_fba_order_in_a_vat_inclusive_marketplace_reserves_nothing_and_keeps_the_total() -> None:
    [command] = dumped("afn_de")
    assert command["reserve_stock"] is False
    assert command["cancelled"] is False  # Shipped, by Amazon
    order = command["order"]
    assert order["currency"] == "EUR"
    assert order["lines"] == [
        # 59.97 for three with 9.58 VAT in it: 50.39 net, 16.80 a unit, the 0.01 over as discount
        line("KAFFEE-BOHNEN-1KG", 3, "16.80", "0.01", "9.58"),
        # 4.99 with 0.80 VAT, less a 1.00 promotion with 0.16 VAT in it
        line("FILTER-PAPIER-100", 1, "4.19", "0.84", "0.64"),
    ]
    assert order["shipping"] == {"method": "Expedited", "amount": "0.00", "tax": "0.00"}
    assert order["totals"]["grand_total"] == "63.96"  # OrderTotal: what the buyer paid
    assert order["shipping_address"] == {
        "name": "Jürgen Groß",
        "line1": "Müllerstraße 12",
        "line2": "Hinterhaus, 3. OG",
        "city": "München",
        "postal_code": "80469",
        "region": "Bayern",
        "country": "DE",
    }


def test_a_yen_order_has_no_minor_unit_and_its_shipping_tax_is_taken_out() -> None:
    [command] = dumped("mfn_jp")
    order = command["order"]
    assert order["currency"] == "JPY"
    assert order["lines"] == [line("MATCHA-TIN-40G", 2, "1800", "0", "360")]
    assert order["shipping"] == {"method": "Standard", "amount": "500", "tax": "50"}
    assert order["totals"]["grand_total"] == "4510"
    assert order["customer"]["name"] == "山田 太郎"
    assert (order["shipping_address"]["line1"], order["shipping_address"]["city"]) == (
        "神南1-2-3",
        "渋谷区",
    )


def test_an_order_without_the_restricted_data_still_comes_in_with_honest_placeholders() -> None:
    [command] = dumped("afn_uk_restricted")
    order = command["order"]
    assert order["customer"] == {
        "email": "202-8877665-4433221@buyer.amazon.invalid",
        "name": "Amazon buyer",
        "phone": None,
    }
    assert order["shipping_address"] == {
        "name": "Amazon buyer",
        "line1": "(withheld by Amazon)",
        "line2": None,
        "city": "Leeds",
        "postal_code": "LS1 4DY",
        "region": "West Yorkshire",
        "country": "GB",
    }
    assert order["lines"] == [line("SCARF-WOOL-GRY", 1, "20.00", "0.00", "4.00")]
    assert order["shipping"] == {"method": "Standard", "amount": "0.00", "tax": "0.00"}
    assert order["totals"]["grand_total"] == "24.00"


def test_every_page_of_a_hundred_and_twenty_line_order_becomes_a_line() -> None:
    [command] = order_commands(document("many_lines"))
    assert isinstance(command, ChannelOrder)
    assert [ln.sku for ln in command.order.lines] == [f"BULK-{n:03d}" for n in range(1, 121)]
    assert str(command.order.totals.grand_total) == "129.60"


def test_the_buyers_cancellation_request_follows_the_order_it_is_about() -> None:
    order, cancel = order_commands(document("buyer_cancel"))
    assert isinstance(order, ChannelOrder) and not order.cancelled
    assert cancel == ChannelCancelRequest(
        external_id="112-9988776-5544332", reason="Found a better price"
    )


def test_a_notification_of_a_buyer_request_asks_to_cancel_even_before_the_items_say_so() -> None:
    quiet = document("mfn_us")
    _, cancel = order_commands(quiet, buyer_cancel=True, reason="Buyer Requested Cancel")
    assert cancel == ChannelCancelRequest(
        external_id="113-4721908-3340257", reason="Buyer Requested Cancel"
    )


def test_a_shipped_order_is_past_cancelling_whatever_the_buyer_asked() -> None:
    shipped = document("buyer_cancel")
    shipped["order"]["OrderStatus"] = "Shipped"
    assert [c.kind for c in order_commands(shipped, buyer_cancel=True)] == ["order"]


def test_a_cancelled_order_amazon_no_longer_prices_is_a_cancel_request() -> None:
    assert order_commands(document("canceled")) == (
        ChannelCancelRequest(external_id="113-5550231-1187702", reason="cancelled on Amazon"),
    )


def test_a_cancelled_order_that_still_has_its_prices_is_the_order_cancelled() -> None:
    cancelled = document("mfn_us")
    cancelled["order"]["OrderStatus"] = "Canceled"
    cancelled["order"]["ShippingAddress"] = {"City": "Seattle", "CountryCode": "US"}
    [command] = order_commands(cancelled)
    assert isinstance(command, ChannelOrder)
    assert command.cancelled is True
    assert command.order.shipping_address.line1 == "(withheld by Amazon)"


@pytest.mark.parametrize("status", ["Pending", "PendingAvailability", "Unfulfillable"])
def test_an_order_with_nothing_to_take_yet_is_nothing(status: str) -> None:
    waiting = document("pending")
    waiting["order"]["OrderStatus"] = status
    assert order_commands(waiting) == ()


@pytest.mark.parametrize("name", [n for n in ORDERS if n not in ("pending", "canceled")])
def test_every_normalized_order_passes_the_cores_own_checks(name: str) -> None:
    for command in order_commands(document(name)):
        if isinstance(command, ChannelOrder):
            order = build_order(command.order, channel="amazon-us")
            assert order.totals["grand_total"] == str(command.order.totals.grand_total)


def test_the_version_is_amazons_last_update_date() -> None:
    [command] = order_commands(document("mfn_jp"))
    assert isinstance(command, ChannelOrder)
    assert command.version_at == datetime(2026, 11, 26, 1, 35, 2, tzinfo=UTC)


def test_reconciling_takes_the_canonical_order_of_a_listed_document() -> None:
    placed = normalize(document("mfn_us"))
    assert placed.external_id == "113-4721908-3340257"
    with pytest.raises(ValidationError, match="nothing to place"):
        normalize(document("pending"))


def refusal(doc: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as raised:
        order_commands(doc)
    return str(raised.value)


def test_an_order_total_the_items_do_not_add_up_to_is_refused_saying_both() -> None:
    wrong = document("mfn_us")
    wrong["order"]["OrderTotal"]["Amount"] = "62.60"
    assert "is 62.60 but the items add up to 62.59" in refusal(wrong)


def test_an_amount_in_another_currency_is_refused() -> None:
    mixed = document("mfn_us")
    mixed["items"][1]["ItemTax"]["CurrencyCode"] = "CAD"
    assert "items.1.ItemTax" in refusal(mixed) and "is in CAD" in refusal(mixed)


def test_more_decimals_than_the_currency_has_are_refused() -> None:
    yen = document("mfn_jp")
    yen["items"][0]["ItemTax"]["Amount"] = "360.5"
    assert "more decimals than JPY has" in refusal(yen)


def test_a_merchant_fulfilled_order_without_its_street_is_refused_naming_the_cause() -> None:
    restricted = document("mfn_us")
    restricted["order"]["ShippingAddress"] = {"City": "Seattle", "CountryCode": "US"}
    assert "Restricted Data Token" in refusal(restricted)


def test_a_marketplace_not_known_is_refused_rather_than_guessed() -> None:
    unknown = document("mfn_us")
    unknown["order"]["MarketplaceId"] = "A2ZZZZZZZZZZZZ"
    assert "is not a marketplace ordersync knows" in refusal(unknown)


def test_a_float_amount_is_never_read_and_a_json_number_only_as_its_exact_text() -> None:
    from decimal import Decimal

    exact = document("mfn_us")
    exact["items"][0]["ItemPrice"]["Amount"] = Decimal("39.80")  # as the JSON reader parses it
    [command] = order_commands(exact)
    assert isinstance(command, ChannelOrder)
    assert str(command.order.lines[0].unit_price) == "19.90"
    for unreadable in (Decimal("4E+1"), 39.8, True):
        spelled = document("mfn_us")
        spelled["items"][0]["ItemPrice"]["Amount"] = unreadable
        assert "decimal amount" in refusal(spelled)


def test_a_discount_above_the_price_is_refused() -> None:
    generous = copy.deepcopy(document("mfn_us"))
    generous["items"][1]["PromotionDiscount"] = {"CurrencyCode": "USD", "Amount": "12.51"}
    assert "more than the item's price" in refusal(generous)


def test_an_item_no_longer_ordered_is_no_line_and_errors_name_amazons_own_item() -> None:
    partly = document("mfn_us")
    partly["items"][1].update(QuantityOrdered=0, ItemPrice=None, ItemTax=None, BuyerInfo=None)
    partly["order"]["OrderTotal"]["Amount"] = "44.74"  # 62.59 less the mug and its gift wrap
    [command] = order_commands(partly)
    assert isinstance(command, ChannelOrder)
    assert [ln.sku for ln in command.order.lines] == ["TEE-M-BLK", "STICKER-PACK"]
    partly["items"][2]["ItemTax"] = {"CurrencyCode": "EUR", "Amount": "0.00"}
    assert "items.2.ItemTax" in refusal(partly)
