"""Commands: validated input documents (pydantic), before normalization."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)


def _no_control_characters(value: str) -> str:
    # NUL cannot be stored in PostgreSQL text, and no channel means a control character.
    if any(ord(c) < 32 and c not in "\t\n\r" for c in value):
        raise ValueError("must not contain control characters")
    return value


Clean = AfterValidator(_no_control_characters)
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), Clean]
OptText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), Clean] | None
Sku = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), Clean]
Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), Clean]
# Stock figures are stored as 32-bit integers.
MAX_STOCK = 2**31 - 1
Amount = Annotated[Decimal, Field(ge=0, max_digits=18, allow_inf_nan=False)]
SignedAmount = Annotated[Decimal, Field(max_digits=18, allow_inf_nan=False)]
Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
    Clean,
]


class _In(BaseModel):
    # More fields than these are fine (channels send plenty); types are strict
    # where a silent coercion would change meaning.
    model_config = ConfigDict(extra="ignore", frozen=True)


class CustomerIn(_In):
    email: Email
    name: Text
    phone: OptText = None


class AddressIn(_In):
    name: Text
    line1: Text
    line2: OptText = None
    city: Text
    postal_code: OptText = None
    region: OptText = None
    country: Country


class LineIn(_In):
    sku: Sku
    quantity: Annotated[int, Field(strict=True, gt=0, le=100_000)]
    unit_price: Amount
    discount: Amount = Decimal(0)
    tax: Amount = Decimal(0)


class ShippingIn(_In):
    method: Text
    amount: Amount = Decimal(0)
    tax: Amount = Decimal(0)


class PaymentIn(_In):
    method: Text
    status: Literal["pending", "authorized", "paid", "failed", "refunded"]
    amount: Amount


class TotalsIn(_In):
    grand_total: Amount
    subtotal: Amount | None = None
    discount_total: Amount | None = None
    tax_total: Amount | None = None
    shipping_total: Amount | None = None


class PlaceOrder(_In):
    """A canonical order as a channel sends it (POST /v1/orders)."""

    external_id: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128), Clean
    ]
    placed_at: AwareDatetime
    currency: CurrencyCode
    customer: CustomerIn
    shipping_address: AddressIn
    billing_address: AddressIn | None = None
    lines: Annotated[list[LineIn], Field(min_length=1, max_length=500)]
    shipping: ShippingIn | None = None
    payment: PaymentIn | None = None
    totals: TotalsIn

    @field_validator("placed_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise ValueError("is outside the range of representable times") from None


class StockAdjustment(_In):
    sku: Sku
    location: Code
    set_on_hand: Annotated[int, Field(strict=True, ge=0, le=MAX_STOCK)] | None = None
    delta: Annotated[int, Field(strict=True, ge=-MAX_STOCK, le=MAX_STOCK)] | None = None
    reason: Annotated[str, StringConstraints(max_length=200), Clean] = ""

    @model_validator(mode="after")
    def _one_of(self) -> StockAdjustment:
        if (self.set_on_hand is None) == (self.delta is None):
            raise ValueError("give exactly one of set_on_hand and delta")
        return self


class AdjustInventory(_In):
    """A batch of stock adjustments, applied in order, all or nothing."""

    adjustments: Annotated[list[StockAdjustment], Field(min_length=1, max_length=1000)]


class ShippedLineIn(_In):
    sku: Sku
    quantity: Annotated[int, Field(strict=True, gt=0, le=100_000)]


class RecordShipment(_In):
    """A shipment reported by the WMS or a store (POST /v1/shipments)."""

    order_id: uuid.UUID
    location: Code
    carrier: Text
    tracking_number: Text
    lines: Annotated[list[ShippedLineIn], Field(min_length=1, max_length=500)]
