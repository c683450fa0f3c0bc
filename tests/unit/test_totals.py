"""Totals computed from the lines, and the check against the figures a channel sent."""

from __future__ import annotations

import pytest

from domain.errors import TotalsMismatch, ValidationFailed
from domain.money import Money
from domain.totals import Totals, check, compute


def eur(amount: str) -> Money:
    return Money.parse(amount, "EUR")


def contract_totals() -> Totals:
    """2 x 19.90 with 9.15 line tax, shipping 4.90 + 1.13 tax (DESIGN.md)."""
    return compute([(eur("19.90"), 2, eur("0.00"), eur("9.15"))], eur("4.90"), eur("1.13"))


def test_the_contract_example_adds_up_to_54_98() -> None:
    totals = contract_totals()
    assert totals.subtotal == eur("39.80")
    assert totals.discount_total == eur("0.00")
    assert totals.tax_total == eur("10.28")
    assert totals.shipping_total == eur("4.90")
    assert totals.grand_total == eur("54.98")


def test_totals_serialize_as_decimal_strings() -> None:
    assert contract_totals().as_dict() == {
        "subtotal": "39.80",
        "discount_total": "0.00",
        "tax_total": "10.28",
        "shipping_total": "4.90",
        "grand_total": "54.98",
    }


def test_a_line_discount_is_for_the_whole_line_not_per_unit() -> None:
    totals = compute([(eur("10.00"), 3, eur("5.00"), eur("0.00"))], eur("0"), eur("0"))
    assert totals.subtotal == eur("30.00")
    assert totals.discount_total == eur("5.00")
    assert totals.grand_total == eur("25.00")


def test_several_lines_are_summed() -> None:
    totals = compute(
        [
            (eur("10.00"), 2, eur("1.00"), eur("2.00")),
            (eur("0.99"), 3, eur("0.00"), eur("0.30")),
        ],
        eur("4.90"),
        eur("1.13"),
    )
    assert totals.subtotal == eur("22.97")
    assert totals.discount_total == eur("1.00")
    assert totals.tax_total == eur("3.43")
    assert totals.grand_total == eur("30.30")


def test_a_zero_decimal_currency_computes_in_whole_units() -> None:
    yen = [(Money(1990, "JPY"), 2, Money(0, "JPY"), Money(398, "JPY"))]
    totals = compute(yen, Money(500, "JPY"), Money(50, "JPY"))
    assert str(totals.grand_total) == "4928"


def test_the_sent_grand_total_that_matches_passes() -> None:
    check(contract_totals(), {"grand_total": eur("54.98")})


def test_a_figure_that_was_not_sent_is_not_checked() -> None:
    check(contract_totals(), {"grand_total": eur("54.98"), "subtotal": None, "tax_total": None})


def test_a_wrong_grand_total_names_the_sent_and_the_computed_figure() -> None:
    with pytest.raises(TotalsMismatch) as raised:
        check(contract_totals(), {"grand_total": eur("54.99")})
    assert "54.99" in raised.value.detail
    assert "54.98" in raised.value.detail
    assert "grand_total" in raised.value.detail
    assert raised.value.extra["mismatches"] == [
        {"field": "totals.grand_total", "sent": "54.99", "computed": "54.98"}
    ]


def test_a_totals_mismatch_is_a_validation_failure() -> None:
    with pytest.raises(ValidationFailed):
        check(contract_totals(), {"grand_total": eur("0.00")})


def test_a_sent_subtotal_is_checked_when_given() -> None:
    check(contract_totals(), {"grand_total": eur("54.98"), "subtotal": eur("39.80")})
    with pytest.raises(TotalsMismatch, match=r"totals\.subtotal.*39\.00.*39\.80"):
        check(contract_totals(), {"grand_total": eur("54.98"), "subtotal": eur("39.00")})


def test_a_sent_tax_total_includes_the_shipping_tax() -> None:
    check(contract_totals(), {"grand_total": eur("54.98"), "tax_total": eur("10.28")})
    with pytest.raises(TotalsMismatch, match=r"totals\.tax_total"):
        check(contract_totals(), {"grand_total": eur("54.98"), "tax_total": eur("9.15")})


def test_every_mismatching_figure_is_named_at_once() -> None:
    with pytest.raises(TotalsMismatch) as raised:
        check(
            contract_totals(),
            {
                "grand_total": eur("50.00"),
                "subtotal": eur("39.80"),
                "tax_total": eur("9.15"),
                "shipping_total": eur("4.90"),
                "discount_total": eur("1.00"),
            },
        )
    fields = [m["field"] for m in raised.value.extra["mismatches"]]
    assert fields == ["totals.grand_total", "totals.tax_total", "totals.discount_total"]


def test_a_payment_of_the_grand_total_passes() -> None:
    check(contract_totals(), {"grand_total": eur("54.98")}, eur("54.98"))


def test_a_payment_amount_other_than_the_grand_total_is_a_mismatch() -> None:
    with pytest.raises(TotalsMismatch) as raised:
        check(contract_totals(), {"grand_total": eur("54.98")}, eur("999.00"))
    assert raised.value.extra["mismatches"] == [
        {"field": "payment.amount", "sent": "999.00", "computed": "54.98"}
    ]
    assert "payment.amount" in raised.value.detail and "999.00" in raised.value.detail
