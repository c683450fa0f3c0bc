"""Every text limit of the request models fits the columns its value is stored in.

The fields come from walking the models (tests/text_fields.py); each must be either
stored in named columns (and fit each of them) or kept only inside JSON documents.
A new text field fails here until someone decides which, and checks the columns.
"""

from __future__ import annotations

import sqlalchemy as sa

from adapters.db.lifecycle_tables import returns, safety_stock
from adapters.db.tables import (
    channels,
    locations,
    order_lines,
    orders,
    reservations,
    shipments,
    skus,
    stock,
)
from adapters.http.context import MAX_REQUEST_ID, MAX_TRACESTATE
from adapters.http.orders import MAX_IDEMPOTENCY_KEY
from domain.change_commands import CancelOrder, EditOrder
from domain.commands import (
    AdjustInventory,
    OpenReturn,
    PlaceOrder,
    ReceiveReturn,
    RecordShipment,
    SetSafetyStock,
)
from outbox.tables import deliveries_table, events_table, sequences_table
from tests.text_fields import text_fields

# A SKU is also the aggregate id of its stock events in the outbox.
_SKU_AGGREGATE = [
    events_table.c.aggregate_id,
    deliveries_table.c.aggregate_id,
    sequences_table.c.aggregate_id,
]
# An order's own text field is stored in the orders column of its name (the row mapping
# goes by name): adding the column is the decision, and its length is checked below.
_ORDER_COLUMNS: dict[tuple[str, str], list[sa.Column[str]]] = {
    ("PlaceOrder", f.name): [orders.c[f.name]]
    for f in text_fields(PlaceOrder)
    if f.model == "PlaceOrder" and f.name in orders.c
}
STORED_IN: dict[tuple[str, str], list[sa.Column[str]]] = {
    **_ORDER_COLUMNS,
    ("LineIn", "sku"): [order_lines.c.sku, reservations.c.sku, skus.c.sku],
    ("StockAdjustment", "sku"): [skus.c.sku, stock.c.sku, *_SKU_AGGREGATE],
    ("StockAdjustment", "location"): [locations.c.code, stock.c.location],
    ("RecordShipment", "location"): [shipments.c.location, locations.c.code],
    ("RecordShipment", "carrier"): [shipments.c.carrier],
    ("RecordShipment", "tracking_number"): [shipments.c.tracking_number],
    ("ShippedLineIn", "sku"): [skus.c.sku],
    ("SetSafetyStock", "channel"): [safety_stock.c.channel, channels.c.name],
    ("SetSafetyStock", "location"): [safety_stock.c.location, locations.c.code],
    ("SetSafetyStock", "sku"): [safety_stock.c.sku, *_SKU_AGGREGATE],
    ("OpenReturn", "reason"): [returns.c.reason],
    ("ReceiveReturn", "location"): [returns.c.location, locations.c.code, stock.c.location],
}
# Kept only inside JSON documents (orders.customer, the addresses, the event payloads).
JSON_ONLY = {
    ("CustomerIn", "email"),
    ("CustomerIn", "name"),
    ("CustomerIn", "phone"),
    *(("AddressIn", n) for n in ("name", "line1", "line2", "city", "postal_code", "region")),
    ("ShippingIn", "method"),
    ("PaymentIn", "method"),
    ("B2bTermsIn", "purchase_order"),  # orders.b2b
    ("B2bTermsIn", "company_account"),
    ("StockAdjustment", "reason"),
    # In the change log's detail and the event's payload (both JSON).
    ("EditOrder", "reason"),
    ("CancelOrder", "reason"),
}
COMMANDS = (
    PlaceOrder,
    AdjustInventory,
    RecordShipment,
    EditOrder,
    CancelOrder,
    SetSafetyStock,
    OpenReturn,
    ReceiveReturn,
)


def test_every_text_field_is_either_stored_in_columns_or_kept_in_json() -> None:
    found = {(f.model, f.name) for command in COMMANDS for f in text_fields(command)}
    assert found, "the walk found no text fields"
    assert found == set(STORED_IN) | JSON_ONLY, found ^ (set(STORED_IN) | JSON_ONLY)
    assert not set(STORED_IN) & JSON_ONLY


def test_every_text_limit_fits_its_columns() -> None:
    too_long = []
    for command in COMMANDS:
        for field in text_fields(command):
            for column in STORED_IN.get((field.model, field.name), []):
                length = column.type.length  # type: ignore[attr-defined]
                if length is not None and field.max_length > length:
                    too_long.append(f"{field.path} ({field.max_length}) > {column} ({length})")
    assert not too_long, too_long


def test_header_values_are_cut_to_their_columns() -> None:
    assert MAX_IDEMPOTENCY_KEY <= orders.c.idempotency_key.type.length  # type: ignore[attr-defined]
    assert MAX_REQUEST_ID <= events_table.c.causation_id.type.length
    assert MAX_TRACESTATE <= events_table.c.tracestate.type.length


def test_a_line_number_reads_the_same_in_every_command() -> None:
    """2.0 (as our JSON reader gives it: a Decimal) is the integer 2 wherever a line is
    named (one LineNo for every command)."""
    from decimal import Decimal

    from domain.change_commands import CancelOrder
    from domain.commands import OpenReturn
    from domain.money_commands import RecordRefund

    line = {"line_no": Decimal("2.0"), "quantity": 1}
    assert OpenReturn.model_validate({"lines": [line], "reason": "x"}).lines[0].line_no == 2
    assert CancelOrder.model_validate({"lines": [line]}).lines[0].line_no == 2  # type: ignore[index]
    refund = RecordRefund.model_validate(
        {
            "order_id": "6f1c2a7e-0000-4000-8000-000000000001",
            "transaction_id": "R-1",
            "kind": "partial",
            "lines": [line],
            "reason": "x",
        }
    )
    assert refund.lines is not None and refund.lines[0].line_no == 2
