"""Commands: validated input documents (pydantic), before normalization.

Every rule a validator enforces is also stated in the JSON Schema (and so in
/openapi.json): a client that follows the schema is never surprised by a 422.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from domain.currency import EXPONENTS

# Control characters other than tab, line feed and carriage return: NUL cannot be
# stored in PostgreSQL text, and no channel means any of the others.
CONTROL = "\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f"
# What the validators accept, as a JSON Schema pattern: no control character, and at
# least one character that is neither a control character nor white space (the value
# is stripped, then must not be empty).
NO_CONTROL_PATTERN = f"^[^{CONTROL}]*$"
# U+0085 spelled out: Python strips it as white space, ECMA-262's \s (the schema's) does not.
TEXT_PATTERN = f"^[^{CONTROL}]*[^\\s\\x85{CONTROL}][^{CONTROL}]*$"
_CONTROL_RE = re.compile(f"[{CONTROL}]")


def _nfc(value: Any) -> Any:
    # One spelling per text: "Café" typed as NFC or NFD is the same SKU, code or name.
    # Before the length check, so the limit applies to what is stored. Placed after
    # StringConstraints in each Annotated, so that it wraps them and runs first: placed
    # before, pydantic would check the length before stripping ("   " passing min_length).
    return unicodedata.normalize("NFC", value) if isinstance(value, str) else value


def _no_control_characters(value: str) -> str:
    if _CONTROL_RE.search(value):
        raise ValueError("must not contain control characters")
    return value


Nfc = BeforeValidator(_nfc)
Clean = AfterValidator(_no_control_characters)


def _text_schema(required: bool) -> Any:
    return Field(json_schema_extra={"pattern": TEXT_PATTERN if required else NO_CONTROL_PATTERN})


# Each text is NFC-normalised, stripped, limited in length, free of control
# characters; the schema states the same (maxLength, the patterns above). Limits
# follow the columns the values are stored in (adapters/db/tables.py); text kept
# only inside JSON documents is limited to 200 characters.
_Required = _text_schema(required=True)
_Optional = _text_schema(required=False)
Text = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    Nfc,
    Clean,
    _Required,
]
OptText = (
    Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), Nfc, Clean, _Optional]
    | None
)
# skus.sku, order_lines.sku, stock.sku
Sku = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
    Nfc,
    Clean,
    _Required,
]
# locations.code, stock.location, shipments.location
Code = Sku
# orders.external_id
ExternalId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=128),
    Nfc,
    Clean,
    _Required,
]
# shipments.carrier
Carrier = Sku
# shipments.tracking_number
TrackingNumber = ExternalId
Reason = Annotated[str, StringConstraints(max_length=200), Nfc, Clean, _Optional]
MAX_LINES = 500  # lines of an order
# Stock figures are stored as 32-bit integers.
MAX_STOCK = 2**31 - 1
# What the schema promises for an amount: a decimal string (JSON numbers are read
# exactly too, but strings are the contract), at most 18 digits, and no more decimals
# than the currency has (checked when the order is normalized: JPY 0, EUR 2, BHD 3).
AMOUNT_PATTERN = "^[0-9]{1,15}([.][0-9]{1,3})?$"
_AMOUNT_SCHEMA = WithJsonSchema(
    {
        "type": "string",
        "pattern": AMOUNT_PATTERN,
        "description": "a decimal string, with at most the currency's decimals",
        "examples": ["19.90"],
    }
)
Amount = Annotated[Decimal, Field(ge=0, max_digits=18, allow_inf_nan=False), _AMOUNT_SCHEMA]
SignedAmount = Annotated[Decimal, Field(max_digits=18, allow_inf_nan=False)]
Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
CurrencyCode = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z]{3}$"),
    # Only these are accepted (domain/normalize.py refuses the others): say so.
    Field(json_schema_extra={"enum": sorted(EXPONENTS)}),
]


def _integral(value: Any) -> Any:
    # JSON Schema counts 2.0 and 2e3 as integers, and our JSON reader makes them
    # Decimals: take those whose value is whole (and of sane size: converting 1e999999
    # would build a huge int) as the int they are; 2.5 or "2" stay refused (strict).
    # adjusted() is the exponent of the leading digit: no arithmetic, so no Overflow.
    if isinstance(value, Decimal) and value.is_finite() and value.adjusted() < 19:
        if value == value.to_integral_value():
            return int(value)
    return value


Integral = BeforeValidator(_integral)
Quantity = Annotated[int, Field(strict=True, gt=0, le=100_000), Integral]
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
EMAIL_SCHEMA_PATTERN = r"^[^@\s\x00-\x1f]+@[^@\s\x00-\x1f]+\.[^@\s\x00-\x1f]+$"
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=254, pattern=EMAIL_PATTERN),
    Nfc,
    Clean,
    # \s covers tab, line feed and carriage return: no control character at all.
    Field(json_schema_extra={"pattern": EMAIL_SCHEMA_PATTERN}),
]

# RFC 3339 date-time, at most microseconds (what is stored): "2026-11-26T10:00:00Z",
# "2026-11-26T11:00:00.25+01:00". Not a number (Unix time is ambiguous in unit), and
# not more digits than are kept: nanoseconds would be dropped without a word.
RFC3339_PATTERN = (
    "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    "[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]([.][0-9]{1,6})?"
    "([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
)
_RFC3339_RE = re.compile(RFC3339_PATTERN)


def _rfc3339(value: Any) -> Any:
    if isinstance(value, datetime):  # built in Python (tests, tools), not from JSON
        return value
    if not isinstance(value, str) or not _RFC3339_RE.match(value):
        raise ValueError(
            "must be an RFC 3339 date-time string with a time zone and at most "
            "microseconds, such as 2026-11-26T10:00:00Z"
        )
    return value


Timestamp = Annotated[
    AwareDatetime,
    BeforeValidator(_rfc3339),
    Field(json_schema_extra={"pattern": RFC3339_PATTERN}),
]


class Input(BaseModel):
    """What every command model is: extra members ignored, immutable once read."""

    # More fields than these are fine (channels send plenty); types are strict
    # where a silent coercion would change meaning.
    model_config = ConfigDict(extra="ignore", frozen=True)


class CustomerIn(Input):
    email: Email
    name: Text
    phone: OptText = None


class AddressIn(Input):
    name: Text
    line1: Text
    line2: OptText = None
    city: Text
    postal_code: OptText = None
    region: OptText = None
    country: Country


class LineIn(Input):
    sku: Sku
    quantity: Quantity
    unit_price: Amount
    discount: Amount = Decimal(0)  # for the whole line, at most unit_price × quantity
    tax: Amount = Decimal(0)


class ShippingIn(Input):
    method: Text
    amount: Amount = Decimal(0)
    tax: Amount = Decimal(0)


class PaymentIn(Input):
    method: Text
    status: Literal["pending", "authorized", "paid", "failed", "refunded"]
    amount: Amount  # must equal the grand total


class TotalsIn(Input):
    grand_total: Amount
    subtotal: Amount | None = None
    discount_total: Amount | None = None
    tax_total: Amount | None = None
    shipping_total: Amount | None = None


# A calendar date, as RFC 3339's full-date: "2026-12-15" (no time, no zone; nothing else).
DATE_PATTERN = "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
_DATE_RE = re.compile(DATE_PATTERN)


def _full_date(value: Any) -> Any:
    if isinstance(value, date) and not isinstance(value, datetime):  # built in Python
        return value
    if not isinstance(value, str) or not _DATE_RE.match(value):
        raise ValueError("must be a date string such as 2026-12-15")
    return value


CalendarDate = Annotated[
    date, BeforeValidator(_full_date), Field(json_schema_extra={"pattern": DATE_PATTERN})
]


class B2bTermsIn(Input):
    """A business customer's terms (the B2B portal's orders; any channel may send them):
    its purchase-order number, its account with us, net payment terms in days (0: due on
    receipt; none: the account's standing terms), and when it wants the goods — not a
    date already past (a 422 when the order is new, domain/b2b.py)."""

    purchase_order: Text
    company_account: Text
    payment_terms_days: Annotated[int, Field(strict=True, ge=0, le=365), Integral] | None = None
    requested_delivery_date: CalendarDate | None = None


class PlaceOrder(Input):
    """A canonical order as a channel sends it (POST /v1/orders)."""

    external_id: ExternalId
    placed_at: Timestamp
    currency: CurrencyCode
    customer: CustomerIn
    shipping_address: AddressIn
    billing_address: AddressIn | None = None
    lines: Annotated[list[LineIn], Field(min_length=1, max_length=MAX_LINES)]
    shipping: ShippingIn | None = None
    payment: PaymentIn | None = None
    totals: TotalsIn
    b2b: B2bTermsIn | None = None

    @field_validator("placed_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise ValueError("is outside the range of representable times") from None


# "Exactly one of set_on_hand and delta", as JSON Schema: one branch per figure, each
# requiring its own as an integer; a null counts as absent.
_ONE_FIGURE: dict[str, JsonValue] = {
    "oneOf": [
        {"required": [name], "properties": {name: {"type": "integer"}}}
        for name in ("set_on_hand", "delta")
    ]
}


class StockAdjustment(Input):
    """One adjustment: exactly one of set_on_hand (a count) and delta (a change)."""

    model_config = ConfigDict(json_schema_extra=_ONE_FIGURE)

    sku: Sku
    location: Code
    set_on_hand: Annotated[int, Field(strict=True, ge=0, le=MAX_STOCK), Integral] | None = None
    delta: Annotated[int, Field(strict=True, ge=-MAX_STOCK, le=MAX_STOCK), Integral] | None = None
    reason: Reason = ""

    @model_validator(mode="after")
    def _one_of(self) -> StockAdjustment:
        if (self.set_on_hand is None) == (self.delta is None):
            raise ValueError("give exactly one of set_on_hand and delta")
        return self


class AdjustInventory(Input):
    """A batch of stock adjustments, applied in order, all or nothing."""

    adjustments: Annotated[list[StockAdjustment], Field(min_length=1, max_length=1000)]


class ShippedLineIn(Input):
    sku: Sku
    quantity: Quantity


class RecordShipment(Input):
    """A shipment reported by the WMS or a store (POST /v1/shipments)."""

    order_id: uuid.UUID
    location: Code
    carrier: Carrier
    tracking_number: TrackingNumber
    lines: Annotated[list[ShippedLineIn], Field(min_length=1, max_length=500)]


# order_lines.line_no: an order has at most 500 lines (PlaceOrder.lines)
LineNo = Annotated[int, Field(strict=True, ge=1, le=MAX_LINES), Integral]
StockQuantity = Annotated[int, Field(strict=True, ge=0, le=MAX_STOCK), Integral]


class SetSafetyStock(Input):
    """What a channel is never offered of a location's ATP (PUT /v1/inventory/safety-stock);
    sku "*" (the default) is every SKU there, a SKU's own figure overrides it."""

    channel: Code
    location: Code
    sku: Sku = "*"
    quantity: StockQuantity


class ReturnLineIn(Input):
    line_no: LineNo
    quantity: Quantity


class OpenReturn(Input):
    """Shipped units the customer sends back (POST /v1/orders/{order_id}/returns); a line
    named twice returns the sum."""

    lines: Annotated[list[ReturnLineIn], Field(min_length=1, max_length=500)]
    reason: Text


class ReceivedLineIn(Input):
    line_no: LineNo
    quantity: Quantity
    disposition: Literal["restock", "damaged"]


class ReceiveReturn(Input):
    """What the WMS received of a return, where, and in which state
    (POST /v1/returns/{return_id}/receipts); a line may come in both dispositions."""

    location: Code
    lines: Annotated[list[ReceivedLineIn], Field(min_length=1, max_length=1000)]


class ReleaseOrder(Input):
    """Release a held order (POST /v1/orders/{order_id}/release): `{}` or a reason."""

    reason: Reason = ""
