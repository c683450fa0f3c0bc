"""The hold screen: each kind matching and not, channel scoping, rule values validated."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from domain.commands import PlaceOrder
from domain.errors import ValidationFailed
from domain.holds import HoldRule, address_key, normalized_value, screen
from domain.normalize import build_order
from domain.orders import Order
from tests.factories import CONTRACT_ORDER


def order(channel: str = "web", **changes: Any) -> Order:
    doc = copy.deepcopy(CONTRACT_ORDER)
    for name, value in changes.items():
        if value is None:
            doc.pop(name, None)
        else:
            doc[name] = value
    return build_order(PlaceOrder.model_validate(doc), channel=channel)


def rule(
    kind: str, value: str | None = None, *, id: int = 7, channel: str | None = None
) -> HoldRule:
    return HoldRule(id, channel, kind, normalized_value(kind, value))


def unpaid() -> dict[str, Any]:
    return {"method": "card", "status": "pending", "amount": "54.98"}


@pytest.mark.parametrize(
    ("payment", "reason"),
    [
        (unpaid(), "payment_not_authorized: the payment is pending (rule 7)"),
        (None, "payment_not_authorized: no payment (rule 7)"),
        ({"method": "card", "status": "failed", "amount": "54.98"}, "the payment is failed"),
    ],
)
def test_an_order_whose_payment_is_not_secured_is_held(
    payment: dict[str, Any] | None, reason: str
) -> None:
    [found] = screen(order(payment=payment), [rule("payment_not_authorized")])
    assert reason in found


@pytest.mark.parametrize("status", ["authorized", "paid"])
def test_an_authorized_or_paid_order_passes_the_payment_rule(status: str) -> None:
    payment = {"method": "card", "status": status, "amount": "54.98"}
    assert screen(order(payment=payment), [rule("payment_not_authorized")]) == []


def test_a_grand_total_above_the_threshold_is_held_naming_both_amounts() -> None:
    assert screen(order(), [rule("amount_over", "50.00 EUR")]) == [
        "amount_over: 54.98 EUR is over 50.00 EUR (rule 7)"
    ]


@pytest.mark.parametrize("threshold", ["54.98 EUR", "100 EUR", "10.00 USD"])
def test_a_total_at_or_below_the_threshold_or_in_another_currency_passes(threshold: str) -> None:
    assert screen(order(), [rule("amount_over", threshold)]) == []


def test_billing_and_shipping_in_different_countries_are_held() -> None:
    billing = {**CONTRACT_ORDER["billing_address"], "country": "ES"}
    assert screen(order(billing_address=billing), [rule("country_mismatch")]) == [
        "country_mismatch: billing in ES, shipping to PT (rule 7)"
    ]


def test_the_same_country_or_no_billing_address_passes_the_country_rule() -> None:
    assert screen(order(), [rule("country_mismatch")]) == []
    assert screen(order(billing_address=None), [rule("country_mismatch")]) == []


def test_a_blocked_customer_is_compared_trimmed_and_lower_case() -> None:
    customer = {**CONTRACT_ORDER["customer"], "email": "Ana@Example.com"}
    assert screen(order(customer=customer), [rule("blocked_customer", "  ANA@example.COM ")]) == [
        "blocked_customer: ana@example.com is blocked (rule 7)"
    ]
    assert screen(order(), [rule("blocked_customer", "bob@example.com")]) == []


def test_a_blocked_address_matches_without_case_or_spaces_on_shipping_or_billing() -> None:
    blocked = rule("blocked_address", "rua  AUGUSTA 1 | 1100-048 | pt")
    assert blocked.value == "ruaaugusta1|1100-048|pt"
    assert screen(order(), [blocked]) == [
        "blocked_address: the shipping address is blocked (rule 7)"
    ]
    elsewhere = {**CONTRACT_ORDER["shipping_address"], "line1": "Rua do Ouro 2"}
    assert screen(order(shipping_address=elsewhere), [blocked]) == [
        "blocked_address: the billing address is blocked (rule 7)"
    ]
    assert screen(order(shipping_address=elsewhere, billing_address=None), [blocked]) == []


def test_the_address_key_leaves_out_name_city_and_region() -> None:
    address = dict(CONTRACT_ORDER["shipping_address"])
    assert address_key(address) == address_key({**address, "name": "X", "city": "Porto"})
    assert address_key(address) != address_key({**address, "postal_code": "1100-049"})


def test_a_rule_of_another_channel_does_not_apply_and_one_for_every_channel_does() -> None:
    rules = [
        rule("amount_over", "1.00 EUR", id=1, channel="pos"),
        rule("country_mismatch", id=2),
        rule("payment_not_authorized", id=3, channel="web"),
    ]
    billing = {**CONTRACT_ORDER["billing_address"], "country": "ES"}
    held = order(payment=unpaid(), billing_address=billing)
    assert screen(held, rules) == [
        "country_mismatch: billing in ES, shipping to PT (rule 2)",
        "payment_not_authorized: the payment is pending (rule 3)",
    ]
    on_pos = order("pos", payment=unpaid(), billing_address=billing)
    assert [r.split(":")[0] for r in screen(on_pos, rules)] == ["amount_over", "country_mismatch"]


def test_every_matching_rule_gives_its_reason_in_rule_order() -> None:
    rules = [rule("amount_over", "1.00 EUR", id=9), rule("payment_not_authorized", id=4)]
    assert [r.rsplit(" ", 1)[-1] for r in screen(order(payment=unpaid()), rules)] == [
        "4)",
        "9)",
    ]


@pytest.mark.parametrize(
    ("kind", "value", "says"),
    [
        ("payment_not_authorized", "x", "takes no value"),
        ("country_mismatch", "PT", "takes no value"),
        ("amount_over", None, "needs a value"),
        ("amount_over", "1000", "AMOUNT CURRENCY"),
        ("amount_over", "10.001 EUR", "more than 2 decimals"),
        ("amount_over", "ten EUR", "AMOUNT CURRENCY"),
        ("blocked_customer", "not-an-email", "an e-mail address"),
        ("blocked_address", "Rua Augusta 1", "LINE1|POSTAL_CODE|COUNTRY"),
        ("blocked_address", "|1100|PT", "LINE1|POSTAL_CODE|COUNTRY"),
        ("velocity", None, "not a hold rule kind"),
        ("blocked_customer", "a@" + "b" * 300, "at most 255"),
    ],
)
def test_a_bad_rule_value_is_refused(kind: str, value: str | None, says: str) -> None:
    with pytest.raises(ValidationFailed, match=says):
        normalized_value(kind, value)


def test_rule_values_are_stored_normalized() -> None:
    assert normalized_value("amount_over", " 1000 eur ") == "1000.00 EUR"
    assert normalized_value("blocked_customer", " Bob@Example.COM") == "bob@example.com"
    assert normalized_value("payment_not_authorized", "  ") is None
