"""The payment and refund commands: /openapi.json states the shape rules their validators
enforce, so whatever the published schema allows is accepted, and the reverse."""

from __future__ import annotations

import itertools
from typing import Any

import jsonschema_rs
import pydantic
import pytest

from adapters.http.openapi import spec
from domain.money_commands import RecordPayment, RecordRefund

SPEC = spec()
ORDER_ID = "6f1d8c1e-0000-4000-8000-000000000001"
OTHER_ID = "6f1d8c1e-0000-4000-8000-000000000002"


def validator(name: str) -> Any:
    return jsonschema_rs.validator_for(
        {"$ref": f"#/components/schemas/{name}", "components": SPEC["components"]}
    )


def accepted(model: type[pydantic.BaseModel], document: dict[str, Any]) -> bool:
    try:
        model.model_validate(document)
    except pydantic.ValidationError:
        return False
    return True


ABSENT = object()


def document(base: dict[str, Any], **members: Any) -> dict[str, Any]:
    return {**base, **{k: v for k, v in members.items() if v is not ABSENT}}


PAYMENTS = [
    document(
        {"order_id": ORDER_ID, "transaction_id": "T", "amount": "1.00"},
        kind=kind,
        shipment_id=shipment,
    )
    for kind, shipment in itertools.product(
        ["authorization", "capture", "void"], [ABSENT, None, OTHER_ID]
    )
]


@pytest.mark.parametrize("body", PAYMENTS)
def test_the_schema_says_which_payments_name_a_shipment(body: dict[str, Any]) -> None:
    assert validator("RecordPayment").is_valid(body) == accepted(RecordPayment, body)


REFUNDS = [
    document(
        {"order_id": ORDER_ID, "transaction_id": "T"},
        kind=kind,
        return_id=return_id,
        lines=lines,
        amount=amount,
    )
    for kind, return_id, lines, amount in itertools.product(
        ["return", "partial", "shipping", "goodwill"],
        [ABSENT, None, OTHER_ID],
        [ABSENT, [], [{"line_no": 1, "quantity": 1}]],
        [ABSENT, None, "1.00"],
    )
]


@pytest.mark.parametrize("body", REFUNDS)
def test_the_schema_says_what_each_kind_of_refund_takes(body: dict[str, Any]) -> None:
    assert validator("RecordRefund").is_valid(body) == accepted(RecordRefund, body)


def test_some_of_each_kind_are_valid() -> None:
    valid = {b["kind"] for b in REFUNDS if accepted(RecordRefund, b)}
    assert valid == {"return", "partial", "shipping", "goodwill"}
