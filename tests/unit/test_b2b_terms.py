"""B2B terms on a canonical order: their shape, their place in the fingerprint, and the
requested delivery date that may not be past (for a new order; a resend gets the stored)."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime
from typing import Any

import pydantic
import pytest

from domain import services
from domain.b2b import earliest_today, late_delivery
from domain.commands import PlaceOrder
from domain.errors import ValidationFailed
from domain.normalize import build_order
from domain.services import place_order
from tests.factories import B2B_TERMS, CONTRACT_ORDER
from tests.unit.fakes import FakeUnitOfWork

SKU = "TEE-M-BLK"


def with_terms(**changes: Any) -> dict[str, Any]:
    document = copy.deepcopy(CONTRACT_ORDER)
    document["b2b"] = {**B2B_TERMS, **changes}
    return document


def test_the_terms_are_read_into_the_order_as_json() -> None:
    order = build_order(PlaceOrder.model_validate(with_terms()), channel="b2b-portal")
    assert order.b2b == {
        "purchase_order": "PO-2026-0042",
        "company_account": "ACME-001",
        "payment_terms_days": 30,
        "requested_delivery_date": "2099-12-15",
    }


def test_only_the_purchase_order_and_the_account_are_required() -> None:
    terms = {"purchase_order": " PO-1 ", "company_account": "ACME-001"}
    cmd = PlaceOrder.model_validate({**CONTRACT_ORDER, "b2b": terms})
    assert cmd.b2b is not None
    assert (cmd.b2b.purchase_order, cmd.b2b.payment_terms_days) == ("PO-1", None)
    assert cmd.b2b.requested_delivery_date is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("purchase_order", ""),
        ("purchase_order", "   "),
        ("company_account", None),
        ("payment_terms_days", -1),
        ("payment_terms_days", 366),
        ("payment_terms_days", "30"),
        ("payment_terms_days", 30.5),
        ("requested_delivery_date", "2099-02-30"),
        ("requested_delivery_date", "2099-12-15T00:00:00Z"),
        ("requested_delivery_date", "15/12/2099"),
        ("requested_delivery_date", 4_100_000_000),
    ],
)
def test_bad_terms_are_a_validation_error_naming_the_field(field: str, value: Any) -> None:
    with pytest.raises(pydantic.ValidationError) as error:
        PlaceOrder.model_validate(with_terms(**{field: value}))
    assert {e["loc"] for e in error.value.errors()} == {("b2b", field)}


def test_an_order_without_terms_keeps_the_fingerprint_it_had_before_terms_existed() -> None:
    """Orders stored before B2B terms were added must still match their resends."""
    order = build_order(PlaceOrder.model_validate(CONTRACT_ORDER), channel="web")
    assert order.b2b is None
    assert (
        order.fingerprint
        == build_order(
            PlaceOrder.model_validate({**CONTRACT_ORDER, "b2b": None}), channel="web"
        ).fingerprint
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"purchase_order": "PO-2"},
        {"company_account": "ACME-002"},
        {"payment_terms_days": 60},
        {"payment_terms_days": None},
        {"requested_delivery_date": "2099-12-16"},
    ],
)
def test_the_same_order_on_other_terms_is_a_different_order(changes: dict[str, Any]) -> None:
    def fingerprint(document: dict[str, Any]) -> str:
        return build_order(PlaceOrder.model_validate(document), channel="b2b").fingerprint

    plain = fingerprint(CONTRACT_ORDER)
    termed = fingerprint(with_terms())
    assert termed != plain
    assert fingerprint(with_terms(**changes)) not in (termed, plain)


@pytest.mark.parametrize(
    ("now", "earliest"),
    [
        (datetime(2026, 12, 15, 11, 59, tzinfo=UTC), date(2026, 12, 14)),  # UTC−12: still the 14th
        (datetime(2026, 12, 15, 12, 0, tzinfo=UTC), date(2026, 12, 15)),
        (datetime(2026, 12, 15, 23, 0, tzinfo=UTC), date(2026, 12, 15)),
    ],
)
def test_a_date_is_past_only_once_it_is_past_everywhere(now: datetime, earliest: date) -> None:
    assert earliest_today(now) == earliest
    order = build_order(
        PlaceOrder.model_validate(with_terms(requested_delivery_date=earliest.isoformat())),
        channel="b2b",
    )
    assert late_delivery(order, now) is None
    day_before = date.fromordinal(earliest.toordinal() - 1).isoformat()
    order.b2b = {**(order.b2b or {}), "requested_delivery_date": day_before}
    late = late_delivery(order, now)
    assert isinstance(late, ValidationFailed)
    assert late.extra["errors"] == [
        {"field": "b2b.requested_delivery_date", "message": late.detail}
    ]


def test_a_new_order_for_a_past_date_is_refused_and_writes_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    uow = FakeUnitOfWork()
    uow.inventory.seed(SKU, "WH-EAST", 10)
    document = with_terms(requested_delivery_date="2026-12-15")
    monkeypatch.setattr(services, "late_delivery", lambda o: late_delivery(o, _at(2026, 12, 17)))

    with pytest.raises(ValidationFailed, match="2026-12-15 is in the past"):
        place_order(uow, PlaceOrder.model_validate(document), channel="b2b")

    assert (uow.commits, uow.orders.orders, uow.committed_events) == (0, {}, [])


def test_the_same_order_resent_after_its_date_passed_gets_the_stored_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    uow = FakeUnitOfWork()
    uow.inventory.seed(SKU, "WH-EAST", 10)
    cmd = PlaceOrder.model_validate(with_terms(requested_delivery_date="2026-12-15"))
    monkeypatch.setattr(services, "late_delivery", lambda o: late_delivery(o, _at(2026, 12, 1)))
    first, created = place_order(uow, cmd, channel="b2b")
    assert created and first.b2b is not None

    monkeypatch.setattr(services, "late_delivery", lambda o: late_delivery(o, _at(2027, 1, 5)))
    again, created = place_order(uow, cmd, channel="b2b")

    assert (again.id, created, uow.commits) == (first.id, False, 1)
    other = PlaceOrder.model_validate({**cmd.model_dump(mode="json"), "external_id": "B2B-2"})
    with pytest.raises(ValidationFailed):
        place_order(uow, other, channel="b2b")


def _at(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, 12, tzinfo=UTC)
