"""Commands of the money side: payments and refunds (POST /v1/payments, /v1/refunds).

Amounts are decimal strings in the order's currency (a `currency`, if sent, must be it);
the services check them against the order, these models only their shape.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, JsonValue, model_validator

from domain.commands import Amount, CurrencyCode, ExternalId, Input, LineNo, Quantity, Reason

# The validators' rules as JSON Schema too (a client following /openapi.json is never
# surprised by a 422): a member is "absent" when missing or null, "given" when not null.
_ABSENT: JsonValue = {"type": "null"}
_NO_LINES: JsonValue = {"maxItems": 0}


def _when(kind: str | list[str], then: dict[str, JsonValue]) -> JsonValue:
    kinds: JsonValue = {"const": kind} if isinstance(kind, str) else {"enum": list(kind)}
    return {"if": {"properties": {"kind": kinds}, "required": ["kind"]}, "then": then}


def _given(name: str) -> dict[str, JsonValue]:
    return {"required": [name], "properties": {name: {"not": _ABSENT}}}


_PAYMENT_RULES: dict[str, JsonValue] = {
    "allOf": [
        _when("capture", _given("shipment_id")),
        _when(["authorization", "void"], {"properties": {"shipment_id": _ABSENT}}),
    ]
}
_REFUND_RULES: dict[str, JsonValue] = {
    "allOf": [
        _when(
            "return",
            {
                **_given("return_id"),
                "properties": {
                    "return_id": {"not": _ABSENT},
                    "amount": _ABSENT,
                    "lines": _NO_LINES,
                },
            },
        ),
        _when(["partial", "shipping", "goodwill"], {"properties": {"return_id": _ABSENT}}),
        _when(["shipping", "goodwill"], {"properties": {"lines": _NO_LINES}}),
        _when("goodwill", _given("amount")),
        _when(
            "partial",
            {
                "oneOf": [
                    {
                        **_given("amount"),
                        "properties": {"amount": {"not": _ABSENT}, "lines": _NO_LINES},
                    },
                    {
                        "required": ["lines"],
                        "properties": {"lines": {"minItems": 1}, "amount": _ABSENT},
                    },
                ]
            },
        ),
    ]
}


class RecordPayment(Input):
    """An authorization, capture (of one shipment's invoice) or void, once per platform
    transaction id."""

    model_config = ConfigDict(json_schema_extra=_PAYMENT_RULES)

    order_id: uuid.UUID
    kind: Literal["authorization", "capture", "void"]
    transaction_id: ExternalId
    amount: Amount
    currency: CurrencyCode | None = None
    shipment_id: uuid.UUID | None = None  # required for a capture, absent otherwise

    @model_validator(mode="after")
    def _shipment_for_captures(self) -> RecordPayment:
        if (self.kind == "capture") != (self.shipment_id is not None):
            raise ValueError("shipment_id: a capture names its shipment, nothing else does")
        return self


class RefundLineIn(Input):
    line_no: LineNo
    quantity: Quantity


class RecordRefund(Input):
    """Money given back: for a return (its lines), partial (units, or an amount), shipping
    only (all that is left of it, or an amount), goodwill (an amount); once per platform
    transaction id."""

    model_config = ConfigDict(json_schema_extra=_REFUND_RULES)

    order_id: uuid.UUID
    transaction_id: ExternalId
    kind: Literal["return", "partial", "shipping", "goodwill"]
    return_id: uuid.UUID | None = None
    lines: Annotated[list[RefundLineIn], Field(max_length=500)] = []
    amount: Amount | None = None
    currency: CurrencyCode | None = None
    reason: Reason = ""

    @model_validator(mode="after")
    def _shape(self) -> RecordRefund:
        if (self.kind == "return") != (self.return_id is not None):
            raise ValueError("return_id: a return's refund names it, nothing else does")
        if self.kind in ("return", "shipping", "goodwill") and self.lines:
            raise ValueError(f"lines: a {self.kind} refund takes none")
        if self.kind == "return" and self.amount is not None:
            raise ValueError("amount: a return's refund is for its lines' units")
        if self.kind == "goodwill" and self.amount is None:
            raise ValueError("amount: a goodwill refund needs one")
        if self.kind == "partial" and (self.amount is None) == (not self.lines):
            raise ValueError("a partial refund gives either lines or an amount")
        return self
