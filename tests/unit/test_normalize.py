"""From PlaceOrder to an Order: exact money, checked totals, a fingerprint of the content."""

from __future__ import annotations

import copy
import hashlib
from datetime import UTC, datetime
from typing import Any

import pydantic
import pytest

from domain.commands import PlaceOrder
from domain.errors import TotalsMismatch, ValidationFailed
from domain.money import Money
from domain.normalize import build_order
from domain.orders import Order
from domain.status import OrderStatus
from tests.factories import CONTRACT_ORDER


def doc(**changes: Any) -> dict[str, Any]:
    """The contract order of DESIGN.md, with top-level keys replaced."""
    result = copy.deepcopy(CONTRACT_ORDER)
    result.update(copy.deepcopy(changes))
    return result


def build(document: dict[str, Any], channel: str = "web", **kwargs: Any) -> Order:
    return build_order(PlaceOrder.model_validate(document), channel=channel, **kwargs)


def test_the_contract_example_normalizes() -> None:
    order = build(doc(), idempotency_key="key-1")
    assert order.channel == "web"
    assert order.external_id == "WEB-10001"
    assert order.idempotency_key == "key-1"
    assert order.status is OrderStatus.PLACED
    assert order.version == 1
    assert order.currency == "EUR"
    assert order.placed_at == datetime(2026, 11, 26, 10, tzinfo=UTC)
    [line] = order.lines
    assert (line.line_no, line.sku, line.quantity) == (1, "TEE-M-BLK", 2)
    assert line.unit_price == Money(1990, "EUR")
    assert line.discount == Money(0, "EUR")
    assert line.tax == Money(915, "EUR")
    assert line.backordered == 2
    assert order.totals["grand_total"] == "54.98"
    assert order.totals["tax_total"] == "10.28"
    assert order.shipping == {"method": "standard", "amount": "4.90", "tax": "1.13"}
    assert order.payment == {"method": "card", "status": "authorized", "amount": "54.98"}
    assert order.customer["email"] == "ana@example.com"
    assert order.shipping_address["city"] == "Lisboa"
    assert order.reservations == []


def test_a_placed_at_in_another_zone_is_stored_in_utc() -> None:
    order = build(doc(placed_at="2026-11-26T11:00:00+01:00"))
    assert order.placed_at == datetime(2026, 11, 26, 10, tzinfo=UTC)
    assert order.placed_at.utcoffset() is not None


def test_missing_shipping_and_payment_count_as_zero_and_none() -> None:
    document = doc(totals={"grand_total": "48.95"})
    del document["shipping"], document["payment"]
    order = build(document)
    assert order.shipping is None
    assert order.payment is None
    assert order.totals["shipping_total"] == "0.00"


def test_every_bad_money_field_is_listed_at_once() -> None:
    document = doc(
        lines=[
            {
                "sku": "A",
                "quantity": 1,
                "unit_price": "19.901",
                "discount": "0.00",
                "tax": "1.2345",
            },
            {"sku": "B", "quantity": 1, "unit_price": "1.00", "discount": "0.001"},
        ],
        shipping={"method": "standard", "amount": "4.905", "tax": "1.13"},
        payment={"method": "card", "status": "authorized", "amount": "54.981"},
        totals={"grand_total": "54.989", "tax_total": "1.0001"},
    )
    with pytest.raises(ValidationFailed) as raised:
        build(document)
    assert not isinstance(raised.value, TotalsMismatch)
    fields = [e["field"] for e in raised.value.extra["errors"]]
    assert fields == [
        "lines.0.unit_price",
        "lines.0.tax",
        "lines.1.discount",
        "shipping.amount",
        "payment.amount",
        "totals.grand_total",
        "totals.tax_total",
    ]
    assert all(e["message"] for e in raised.value.extra["errors"])


def test_a_zero_decimal_currency_refuses_cents() -> None:
    document = doc(
        currency="JPY",
        lines=[{"sku": "A", "quantity": 1, "unit_price": "1990.5"}],
        shipping=None,
        payment=None,
        totals={"grand_total": "1990"},
    )
    with pytest.raises(ValidationFailed) as raised:
        build(document)
    assert [e["field"] for e in raised.value.extra["errors"]] == ["lines.0.unit_price"]


def test_a_three_decimal_currency_keeps_thousandths() -> None:
    document = doc(
        currency="KWD",
        lines=[{"sku": "A", "quantity": 2, "unit_price": "1.255", "tax": "0.001"}],
        shipping=None,
        payment=None,
        totals={"grand_total": "2.511"},
    )
    order = build(document)
    assert order.lines[0].unit_price == Money(1255, "KWD")
    assert order.totals["grand_total"] == "2.511"


def test_an_unsupported_currency_is_refused() -> None:
    with pytest.raises(ValidationFailed) as raised:
        build(doc(currency="XYZ"))
    assert "XYZ" in raised.value.detail
    assert [e["field"] for e in raised.value.extra["errors"]] == ["currency"]


def test_a_grand_total_that_does_not_add_up_is_refused_naming_both_figures() -> None:
    with pytest.raises(TotalsMismatch) as raised:
        build(doc(totals={"grand_total": "55.00"}))
    assert "55.00" in raised.value.detail
    assert "54.98" in raised.value.detail


def test_an_optional_subtotal_that_does_not_add_up_is_refused() -> None:
    with pytest.raises(TotalsMismatch, match=r"subtotal.*39\.00.*39\.80"):
        build(doc(totals={"grand_total": "54.98", "subtotal": "39.00"}))


def test_the_customer_email_is_stored_in_lower_case() -> None:
    order = build(doc(customer={"email": "Ana@Example.COM", "name": "Ana Silva"}))
    assert order.customer["email"] == "ana@example.com"


# The contract order's normalized content, written out by hand as the canonical JSON the
# fingerprint hashes (sorted keys, no spaces; money in minor units, except the shipping and
# payment figures, which are kept as strings; placed_at in UTC). Fingerprints are stored
# with the orders: a change here makes a retry of an order placed before it a 409.
CONTRACT_CONTENT = (
    '{"billing_address":{"city":"Lisboa","country":"PT","line1":"Rua Augusta 1",'
    '"line2":null,"name":"Ana Silva","postal_code":"1100-048","region":null},'
    '"currency":"EUR",'
    '"customer":{"email":"ana@example.com","name":"Ana Silva","phone":"+351910000000"},'
    '"external_id":"WEB-10001",'
    '"grand_total":5498,'
    '"lines":[["TEE-M-BLK",2,1990,0,915]],'
    '"payment":{"amount":"54.98","method":"card","status":"authorized"},'
    '"placed_at":"2026-11-26T10:00:00+00:00",'
    '"shipping":{"amount":"4.90","method":"standard","tax":"1.13"},'
    '"shipping_address":{"city":"Lisboa","country":"PT","line1":"Rua Augusta 1",'
    '"line2":null,"name":"Ana Silva","postal_code":"1100-048","region":null}}'
)


def test_the_fingerprint_is_the_sha256_of_the_normalized_content_written_by_hand() -> None:
    expected = hashlib.sha256(CONTRACT_CONTENT.encode()).hexdigest()
    assert build(doc()).fingerprint == expected
    assert build(doc(), channel="pos", idempotency_key="another").fingerprint == expected


def test_the_fingerprint_ignores_the_channel_id_and_idempotency_key_of_the_build() -> None:
    a = build(doc(), channel="web", idempotency_key="k1")
    b = build(doc(), channel="web", idempotency_key="k2")
    assert a.id != b.id
    assert a.fingerprint == b.fingerprint


def test_the_fingerprint_is_the_same_for_19_9_and_19_90() -> None:
    padded = doc(
        lines=[
            {
                "sku": "TEE-M-BLK",
                "quantity": 2,
                "unit_price": "19.9",
                "discount": "0",
                "tax": "9.150",
            }
        ],
        shipping={"method": "standard", "amount": "4.9", "tax": "1.13"},
        payment={"method": "card", "status": "authorized", "amount": "54.980"},
        totals={"grand_total": "54.98"},
    )
    assert build(padded).fingerprint == build(doc()).fingerprint


def test_the_fingerprint_is_the_same_whatever_the_email_case() -> None:
    shouting = doc(customer={**CONTRACT_ORDER["customer"], "email": "ANA@EXAMPLE.COM"})
    assert build(shouting).fingerprint == build(doc()).fingerprint


def test_the_fingerprint_is_the_same_for_the_same_instant_in_another_zone() -> None:
    shifted = doc(placed_at="2026-11-26T11:00:00+01:00")
    assert build(shifted).fingerprint == build(doc()).fingerprint


def test_the_fingerprint_changes_with_the_quantity() -> None:
    changed = doc(
        lines=[
            {
                "sku": "TEE-M-BLK",
                "quantity": 3,
                "unit_price": "19.90",
                "discount": "0.00",
                "tax": "9.15",
            }
        ],
        totals={"grand_total": "74.88"},
        payment={**CONTRACT_ORDER["payment"], "amount": "74.88"},
    )
    assert build(changed).fingerprint != build(doc()).fingerprint


def test_the_fingerprint_changes_with_the_address() -> None:
    moved = doc(shipping_address={**CONTRACT_ORDER["shipping_address"], "line1": "Rua Augusta 2"})
    assert build(moved).fingerprint != build(doc()).fingerprint


def test_a_payment_amount_other_than_the_grand_total_is_refused() -> None:
    with pytest.raises(TotalsMismatch) as raised:
        build(doc(payment={**CONTRACT_ORDER["payment"], "amount": "999.00"}))
    assert raised.value.extra["mismatches"] == [
        {"field": "payment.amount", "sent": "999.00", "computed": "54.98"}
    ]


def _line(**changes: Any) -> dict[str, Any]:
    return {**CONTRACT_ORDER["lines"][0], **changes}


def test_a_line_discount_above_the_line_price_is_refused_naming_the_line() -> None:
    """2 × 19.90 = 39.80 is the line's price; the totals are made to add up."""
    lines = [CONTRACT_ORDER["lines"][0], _line(discount="39.81", tax="0.00")]
    document = doc(lines=lines, totals={"grand_total": "54.97"})
    document["payment"]["amount"] = "54.97"
    with pytest.raises(ValidationFailed) as raised:
        build(document)
    assert not isinstance(raised.value, TotalsMismatch)
    assert [e["field"] for e in raised.value.extra["errors"]] == ["lines.1.discount"]


def test_a_line_discount_equal_to_the_line_price_is_a_free_line() -> None:
    lines = [CONTRACT_ORDER["lines"][0], _line(discount="39.80", tax="0.00")]
    document = doc(lines=lines, totals={"grand_total": "54.98"})
    assert build(document).lines[1].total == Money.parse("0.00", "EUR")


def test_nfc_and_nfd_spellings_are_one_sku_one_order() -> None:
    nfc, nfd = "CAF\u00c9-M", "CAFE\u0301-M"
    as_nfc = build(doc(lines=[_line(sku=nfc)]))
    as_nfd = build(doc(lines=[_line(sku=nfd)]))
    assert as_nfd.lines[0].sku == nfc
    assert as_nfd.fingerprint == as_nfc.fingerprint


def test_names_and_codes_are_normalised_to_nfc_too() -> None:
    address = {**CONTRACT_ORDER["shipping_address"], "city": "Sa\u0303o Paulo"}
    order = build(doc(shipping_address=address, external_id="WEB-E\u0301"))
    assert order.shipping_address["city"] == "S\u00e3o Paulo"
    assert order.external_id == "WEB-\u00c9"


@pytest.mark.parametrize(
    "placed_at",
    [
        1795687200,
        1795687200.0,
        "1795687200",
        "2026-11-26T10:00:00.123456789Z",
        "2026-11-26T10:00:00.1234567Z",
        "2026-11-26T10:00:00",
        "2026-11-26 10:00:00Z",
        "2026-11-26",
    ],
)
def test_a_placed_at_that_is_not_an_rfc3339_string_is_refused(placed_at: Any) -> None:
    with pytest.raises(pydantic.ValidationError) as raised:
        build(doc(placed_at=placed_at))
    assert [e["loc"] for e in raised.value.errors()] == [("placed_at",)]


@pytest.mark.parametrize(
    ("placed_at", "expected"),
    [
        ("2026-11-26T10:00:00Z", datetime(2026, 11, 26, 10, tzinfo=UTC)),
        ("2026-11-26t10:00:00.5z", datetime(2026, 11, 26, 10, 0, 0, 500_000, tzinfo=UTC)),
        ("2026-11-26T11:00:00.123456+01:00", datetime(2026, 11, 26, 10, 0, 0, 123_456, tzinfo=UTC)),
    ],
)
def test_an_rfc3339_placed_at_keeps_every_digit(placed_at: str, expected: datetime) -> None:
    assert build(doc(placed_at=placed_at)).placed_at == expected
