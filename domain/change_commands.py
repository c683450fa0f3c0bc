"""Commands of customer service's changes before shipment, in domain/commands.py's style:
an edit (PATCH /v1/orders/{id}) and a cancellation (POST /v1/orders/{id}/cancel).

JSON Schema states every rule but one: that a line_no appears once in a request (no
keyword says "unique by this member"); a repeat is a 422 naming it.
"""

from __future__ import annotations

from typing import Annotated, TypeVar

from pydantic import (
    ConfigDict,
    Field,
    JsonValue,
    field_validator,
    model_validator,
)

from domain.commands import MAX_LINES, AddressIn, Input, Integral, LineNo, Quantity, Reason

# What a line is to be: 0 removes it.
NewQuantity = Annotated[int, Field(strict=True, ge=0, le=100_000), Integral]


class LineQuantity(Input):
    """A line's new quantity: lower than it is (0 removes it), never below what shipped."""

    line_no: LineNo
    quantity: NewQuantity


class LineCancellation(Input):
    """Units of a line to cancel (its last ones), at most what has not shipped."""

    line_no: LineNo
    quantity: Quantity


def _once_each(lines: list[L] | None) -> list[L] | None:
    seen: set[int] = set()
    for line in lines or ():
        if line.line_no in seen:
            raise ValueError(f"line_no {line.line_no} is given twice")
        seen.add(line.line_no)
    return lines


L = TypeVar("L", LineQuantity, LineCancellation)


# "At least one of shipping_address and lines", as JSON Schema (a null counts as absent).
_ONE_PART: dict[str, JsonValue] = {
    "anyOf": [
        {"required": ["shipping_address"], "properties": {"shipping_address": {"type": "object"}}},
        {"required": ["lines"], "properties": {"lines": {"type": "array"}}},
    ]
}


class EditOrder(Input):
    """What customer service may change before shipment: where it goes, and how many."""

    model_config = ConfigDict(json_schema_extra=_ONE_PART)

    shipping_address: AddressIn | None = None
    lines: Annotated[list[LineQuantity], Field(min_length=1, max_length=MAX_LINES)] | None = None
    reason: Reason = ""

    _lines = field_validator("lines")(_once_each)

    @model_validator(mode="after")
    def _parts(self) -> EditOrder:
        if self.shipping_address is None and self.lines is None:
            raise ValueError("give shipping_address, lines or both")
        return self


class CancelOrder(Input):
    """Cancel units that have not shipped: these lines' (their last units), or with no
    lines every unit left."""

    lines: Annotated[list[LineCancellation], Field(min_length=1, max_length=MAX_LINES)] | None = (
        None
    )
    reason: Reason = ""

    _lines = field_validator("lines")(_once_each)
