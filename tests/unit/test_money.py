"""Money: exact integer minor units of an ISO 4217 currency."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.currency import EXPONENTS, exponent
from domain.errors import InvalidMoney
from domain.money import Money


def test_a_decimal_string_parses_to_exact_minor_units() -> None:
    assert Money.parse("19.90", "EUR") == Money(1990, "EUR")


def test_fewer_decimals_than_the_currency_has_are_padded() -> None:
    assert Money.parse("19.9", "EUR") == Money(1990, "EUR")
    assert Money.parse("19", "EUR") == Money(1900, "EUR")


def test_trailing_zeros_beyond_the_exponent_are_not_excess_precision() -> None:
    assert Money.parse("19.900", "EUR") == Money(1990, "EUR")


def test_a_decimal_and_an_int_parse_like_their_string() -> None:
    assert Money.parse(Decimal("0.10"), "USD") == Money(10, "USD")
    assert Money.parse(7, "USD") == Money(700, "USD")


def test_a_value_that_is_not_exact_in_binary_floating_point_stays_exact() -> None:
    assert Money.parse("0.1", "EUR") + Money.parse("0.2", "EUR") == Money.parse("0.3", "EUR")


def test_a_negative_amount_parses() -> None:
    assert Money.parse("-0.05", "EUR") == Money(-5, "EUR")


@pytest.mark.parametrize("amount", [19.9, 0.0, True])
def test_floats_and_bools_are_refused(amount: object) -> None:
    with pytest.raises(InvalidMoney):
        Money.parse(amount, "EUR")  # type: ignore[arg-type]


@pytest.mark.parametrize("amount", ["NaN", "sNaN", "Infinity", "-Infinity", Decimal("NaN")])
def test_not_a_number_and_infinity_are_refused(amount: str | Decimal) -> None:
    with pytest.raises(InvalidMoney):
        Money.parse(amount, "EUR")


@pytest.mark.parametrize("amount", ["", "abc", "19,90", "1.2.3", "€19.90"])
def test_text_that_is_not_a_decimal_is_refused(amount: str) -> None:
    with pytest.raises(InvalidMoney):
        Money.parse(amount, "EUR")


@pytest.mark.parametrize(
    ("amount", "currency"), [("19.901", "EUR"), ("0.001", "USD"), ("1.5", "JPY"), ("1.0001", "KWD")]
)
def test_more_decimals_than_the_currency_has_are_refused(amount: str, currency: str) -> None:
    with pytest.raises(InvalidMoney, match="decimals"):
        Money.parse(amount, currency)


@pytest.mark.parametrize("currency", ["XYZ", "eur", "", "EURO"])
def test_an_unknown_currency_is_refused(currency: str) -> None:
    with pytest.raises(InvalidMoney, match="unsupported currency"):
        Money.parse("1.00", currency)


def test_unknown_currencies_are_not_given_an_exponent() -> None:
    with pytest.raises(KeyError):
        exponent("XYZ")


def test_a_zero_decimal_currency_counts_whole_units() -> None:
    assert exponent("JPY") == 0
    assert Money.parse("1990", "JPY") == Money(1990, "JPY")
    assert str(Money(1990, "JPY")) == "1990"


def test_a_three_decimal_currency_counts_thousandths() -> None:
    assert exponent("KWD") == 3
    assert Money.parse("1.5", "KWD") == Money(1500, "KWD")
    assert Money.parse("0.001", "KWD") == Money(1, "KWD")
    assert str(Money(1500, "KWD")) == "1.500"


@pytest.mark.parametrize(
    ("money", "text"),
    [
        (Money(1990, "EUR"), "19.90"),
        (Money(5, "EUR"), "0.05"),
        (Money(0, "EUR"), "0.00"),
        (Money(-5, "EUR"), "-0.05"),
        (Money(100_000_000, "USD"), "1000000.00"),
        (Money(0, "KWD"), "0.000"),
        (Money(-1, "JPY"), "-1"),
    ],
)
def test_str_has_exactly_the_currencys_decimals(money: Money, text: str) -> None:
    assert str(money) == text


def test_amount_is_the_exact_decimal() -> None:
    assert Money(1990, "EUR").amount == Decimal("19.90")


def test_adding_and_subtracting_stay_in_minor_units() -> None:
    a, b = Money(1990, "EUR"), Money(15, "EUR")
    assert a + b == Money(2005, "EUR")
    assert a - b == Money(1975, "EUR")
    assert a.times(3) == Money(5970, "EUR")
    assert Money.zero("EUR") == Money(0, "EUR")


def test_adding_different_currencies_raises() -> None:
    with pytest.raises(InvalidMoney, match=r"EUR.*USD"):
        Money(100, "EUR") + Money(100, "USD")


def test_subtracting_different_currencies_raises() -> None:
    with pytest.raises(InvalidMoney):
        Money(100, "EUR") - Money(100, "GBP")


# Amounts written with more significant digits than Decimal's default context precision
# (28): arithmetic on them in that context would round. Under MAX_MINOR (10**18) a valid
# amount has at most 18 significant digits, so the long ones are trailing zeros, or a digit
# far below the minor unit (refused), or too large (refused).
LARGEST = "9999999999999999.99"  # MAX_MINOR - 1 cents


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (LARGEST + "0" * 20, "EUR", 10**18 - 1),  # 38 significant digits
        ("-" + LARGEST + "0" * 20, "EUR", -(10**18) + 1),
        ("19.90" + "0" * 30, "EUR", 1990),  # 34 significant digits
        ("1" + "0" * 17 + ".000" + "0" * 30, "JPY", 10**17),  # 51 digits, none decimal
        ("999999999999999.999" + "0" * 12, "KWD", 10**18 - 1),  # 30 significant digits
    ],
)
def test_amounts_with_more_digits_than_the_decimal_context_parse_exactly(
    amount: str, currency: str, expected: int
) -> None:
    assert Money.parse(amount, currency) == Money(expected, currency)


@pytest.mark.parametrize(
    "amount",
    [
        "1.0000000000000000000000000001",  # 29 significant digits: the last is 10**-28
        LARGEST + "0" * 20 + "1",  # 39: a digit 10**-22 of a euro after 18 exact ones
        "0.00" + "0" * 40 + "1",
    ],
)
def test_a_digit_below_the_minor_unit_beyond_the_decimal_context_is_refused(amount: str) -> None:
    with pytest.raises(InvalidMoney, match="decimals"):
        Money.parse(amount, "EUR")


@pytest.mark.parametrize(
    "amount",
    [
        "1234567890123456789012345678901.01",  # 33 significant digits
        "10000000000000000.00" + "0" * 20,  # MAX_MINOR cents exactly, 40 digits
    ],
)
def test_amounts_with_more_digits_than_the_decimal_context_may_be_too_large(amount: str) -> None:
    with pytest.raises(InvalidMoney, match="too large"):
        Money.parse(amount, "EUR")


def test_str_of_an_amount_with_more_digits_than_the_decimal_context_is_exact() -> None:
    assert str(Money(10**30 + 1, "EUR")) == "10000000000000000000000000000.01"


@pytest.mark.parametrize("amount", ["100000000000000000.00", "-100000000000000000.00"])
def test_an_amount_beyond_what_a_bigint_of_minor_units_holds_is_refused(amount: str) -> None:
    with pytest.raises(InvalidMoney):
        Money.parse(amount, "EUR")


@given(
    minor=st.integers(min_value=-(10**18) + 1, max_value=10**18 - 1),
    currency=st.sampled_from(sorted(EXPONENTS)),
)
def test_parsing_the_string_of_an_amount_gives_the_same_amount(minor: int, currency: str) -> None:
    money = Money(minor, currency)
    assert Money.parse(str(money), currency) == money


@pytest.mark.parametrize(
    ("amount", "expected"),
    [("0E-999999999", Money(0, "EUR")), ("0E+999999999", Money(0, "EUR"))],
)
def test_a_zero_with_a_huge_exponent_is_zero_without_computing_the_power(
    amount: str, expected: Money
) -> None:
    """Valid JSON numbers: 10 ** 999999999 would hold the thread for minutes (a DoS)."""
    assert Money.parse(Decimal(amount), "EUR") == expected


@pytest.mark.parametrize(
    ("amount", "message"),
    [("1E-999999999", "decimals"), ("1E+999999999", "too large"), ("5E+16", "too large")],
)
def test_a_huge_exponent_is_refused_without_computing_the_power(amount: str, message: str) -> None:
    with pytest.raises(InvalidMoney, match=message):
        Money.parse(Decimal(amount), "EUR")
