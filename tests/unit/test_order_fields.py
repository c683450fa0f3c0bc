"""An order's fields are declared in domain/orders.py; the rest follows or fails here.

The row mapping, the repository's column lists, the API's serializer and the order
events' construction take the fields by name, so they cannot drift. What is written a
second time on purpose — the table (and its migration), the published documents (the
request model, the response schema, the event schemas, the ERP's sales order) — is held
to the model below: a field added to the model and not to one of them fails a test,
unless an exception list here names it with its reason.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from types import SimpleNamespace
from typing import Any

import pytest

# The ERP's sales order, through its public function: the one line to re-point if it moves.
from actors.erp import sales_order_document as erp_sales_order
from adapters.db import mapping
from adapters.db.tables import order_lines, orders, reservations
from adapters.http.schemas import RESPONSE_SCHEMAS
from adapters.http.serialize import order_json
from domain.allocation import Allocation, Plan
from domain.commands import PlaceOrder
from domain.events import BackorderedLine, MoneyLine, OrderAccepted, ShipmentDispatched
from domain.normalize import build_order
from domain.orders import Order, OrderLine, Reservation
from domain.projection import order_event, project
from domain.services import accepted
from tests.factories import B2B_TERMS, CONTRACT_ORDER, with_field
from tests.text_fields import TextField, text_fields, value_of_length

ORDER_FIELDS_NOT_COLUMNS = {
    "lines": "rows of order_lines",
    "reservations": "rows of reservations",
}
ORDER_COLUMNS_NOT_FIELDS = {
    "change_seq": "the change feed's position, computed by the writing statement",
}
MONEY_SO_FAR = {
    f"{name}_minor": "shown as money, in decimal strings"
    for name in ("authorized", "captured", "refunded", "invoiced", "credited")
}
NOT_SHOWN_BY_THE_API = {
    "fingerprint": "how a repeat of the same order is recognised: ordersync's own",
    "idempotency_key": "the channel's key for retrying its request, not order content",
    **MONEY_SO_FAR,
}
ORDER_VALUES_THE_API_COMPUTES = {"money"}
LINE_VALUES_THE_API_COMPUTES = {"total", "backordered"}
RESERVATION_FIELDS_NOT_SHOWN = {
    "order_id": "the order the reservation is shown in",
    "created_at": "only orders which reservation a stock shrink takes back first",
}
NOT_IN_ORDER_ACCEPTED = {
    "id": "carried as order_id, the name every order event uses",
    "version": "the envelope's aggregate_version",
    "reservations": "order.allocated carries them",
    "created_at": "when ordersync stored the order; the envelope has occurred_at",
    "updated_at": "changes with every later event, not part of the accepted order",
    "holds": "order.held carries them",
    "customer_id": "customer.updated carries the customer",
    "correlation_id": "the envelope's correlation_id",
    **NOT_SHOWN_BY_THE_API,
}
LINE_FIELDS_NOT_IN_ORDER_ACCEPTED = {
    "allocated": "stock state: order.allocated and order.backordered carry it",
    "shipped": "shipment.dispatched carries it",
    "cancelled": "order.cancelled carries it",
    "returned": "return.opened carries it",
}
ORDER_FIELDS_NOT_SENT_BY_A_CHANNEL = {
    "id": "ordersync names its orders",
    "channel": "the channel that authenticated the request",
    "status": "the state machine's",
    "version": "ordersync's count of changes",
    "fingerprint": "computed from the normalized content",
    "idempotency_key": "the request's Idempotency-Key header",
    "reservations": "made by allocation",
    "created_at": "set when stored",
    "updated_at": "set when stored",
    "holds": "the hold screen's",
    "customer_id": "ordersync's customer, by normalized e-mail",
    "fulfilled_by_channel": "the channel kind's normalizer says so (Amazon FBA)",
    "correlation_id": "the request's X-Correlation-ID header (or one made at the door)",
    **MONEY_SO_FAR,
}
NOT_IN_THE_ERP_SALES_ORDER = {
    "status": "a sales order is the order as placed; its allocation is the WMS's business",
}


def names(model: type) -> set[str]:
    return {f.name for f in dataclasses.fields(model)}


def placed_order() -> Order:
    """The contract order with B2B terms, part-allocated and stored: every field holds a
    value."""
    order = build_order(
        PlaceOrder.model_validate({**CONTRACT_ORDER, "b2b": B2B_TERMS}),
        channel="web",
        idempotency_key="k",
    )
    order.apply_plan(Plan((Allocation(1, "TEE-M-BLK", "WH-EAST", 1),), {1: 1}))
    order.created_at = datetime(2026, 11, 26, 10, 0, 5, tzinfo=UTC)
    order.updated_at = datetime(2026, 11, 26, 10, 0, 6, tzinfo=UTC)
    return order


def test_every_field_of_the_order_is_a_column_of_the_orders_table() -> None:
    columns = {c.name for c in orders.c}
    assert names(Order) - columns == ORDER_FIELDS_NOT_COLUMNS.keys()
    assert columns - names(Order) == ORDER_COLUMNS_NOT_FIELDS.keys()


def test_every_field_of_a_line_is_a_column_of_order_lines_money_in_minor_units() -> None:
    money = {f.name for f in dataclasses.fields(OrderLine) if f.type == "Money"}
    assert money == {"unit_price", "discount", "tax"}
    expected = (names(OrderLine) - money) | {f"{m}_minor" for m in money} | {"order_id"}
    assert {c.name for c in order_lines.c} == expected


def test_every_field_of_a_reservation_is_a_column_of_reservations() -> None:
    assert {c.name for c in reservations.c} == names(Reservation)


def test_an_order_row_has_every_column_but_the_feed_position() -> None:
    row = mapping.order_row(placed_order(), datetime.now(UTC))
    assert row.keys() == {c.name for c in orders.c} - ORDER_COLUMNS_NOT_FIELDS.keys()


def test_an_order_comes_back_from_its_rows_unchanged() -> None:
    order = placed_order()
    order.line(1).shipped = 1  # no field at its default: a field left unmapped would show
    row = SimpleNamespace(**mapping.order_row(order, order.updated_at), change_seq=1)
    lines = [SimpleNamespace(**r) for r in mapping.line_rows(order)]
    held = [SimpleNamespace(**r) for r in mapping.reservation_rows(order.reservations)]
    assert {r["order_id"] for r in mapping.line_rows(order)} == {order.id}
    back = mapping.order(row, reversed(lines), held)
    assert back == order
    assert back.status is order.status and back.lines[0].unit_price == order.lines[0].unit_price


def test_the_api_shows_every_field_of_the_order_but_the_internal_ones() -> None:
    document = order_json(placed_order())
    assert document.keys() == (
        names(Order) - NOT_SHOWN_BY_THE_API.keys() | ORDER_VALUES_THE_API_COMPUTES
    )
    assert document["lines"][0].keys() == names(OrderLine) | LINE_VALUES_THE_API_COMPUTES
    shown = names(Reservation) - RESERVATION_FIELDS_NOT_SHOWN.keys()
    assert document["reservations"][0].keys() == shown
    json.dumps(document)  # every value is JSON already: nothing left for the encoder to guess


def test_the_published_response_schema_lists_exactly_what_the_api_shows() -> None:
    schema = RESPONSE_SCHEMAS["Order"]["properties"]
    document = order_json(placed_order())
    assert list(schema) == list(document)
    assert schema["lines"]["items"]["properties"].keys() == document["lines"][0].keys()
    items = schema["reservations"]["items"]["properties"]
    assert items.keys() == document["reservations"][0].keys()


def test_the_api_shows_an_orders_values_as_before() -> None:
    order = placed_order()
    document = order_json(order)
    assert document["id"] == str(order.id)
    assert document["status"] == "partially_allocated"
    assert document["placed_at"] == "2026-11-26T10:00:00+00:00"
    assert document["created_at"] == "2026-11-26T10:00:05+00:00"
    assert document["lines"][0] == {
        "line_no": 1,
        "sku": "TEE-M-BLK",
        "quantity": 2,
        "unit_price": "19.90",
        "discount": "0.00",
        "tax": "9.15",
        "total": "48.95",
        "allocated": 1,
        "backordered": 1,
        "shipped": 0,
        "cancelled": 0,
        "returned": 0,
    }
    assert document["holds"] == [] and document["customer_id"] is None
    assert document["money"]["captured"] == "0.00"
    reservation = order.reservations[0]
    assert document["reservations"] == [
        {
            "id": str(reservation.id),
            "line_no": 1,
            "sku": "TEE-M-BLK",
            "location": "WH-EAST",
            "quantity": 1,
        }
    ]
    assert document["billing_address"] == CONTRACT_ORDER["billing_address"]


def test_every_field_a_channel_sends_is_a_field_of_the_order() -> None:
    sent = set(PlaceOrder.model_fields)
    assert sent == names(Order) - ORDER_FIELDS_NOT_SENT_BY_A_CHANNEL.keys()


@pytest.mark.parametrize("field", text_fields(PlaceOrder), ids=lambda f: f.path)
def test_every_text_a_channel_sends_reaches_the_order_and_its_fingerprint(
    field: TextField,
) -> None:
    """A value the normalization dropped would be lost, and a resend that differs only
    there would pass for the same order again."""
    value = value_of_length(field, min(field.max_length, 24), tag="other")
    sent = PlaceOrder.model_validate(with_field(CONTRACT_ORDER, field.path, value))
    before = build_order(PlaceOrder.model_validate(CONTRACT_ORDER), channel="web")
    after = build_order(sent, channel="web")
    after.id = before.id
    assert after.fingerprint != before.fingerprint
    after.fingerprint = before.fingerprint
    assert after != before


def test_order_accepted_carries_the_whole_order_as_placed() -> None:
    carried = set(OrderAccepted.model_fields)
    assert carried == (names(Order) - NOT_IN_ORDER_ACCEPTED.keys()) | {"order_id"}
    line = set(MoneyLine.model_fields)
    assert line == names(OrderLine) - LINE_FIELDS_NOT_IN_ORDER_ACCEPTED.keys()


def test_order_accepted_holds_the_orders_values() -> None:
    order = placed_order()
    event = accepted(order)
    payload = event.payload
    assert isinstance(payload, OrderAccepted)
    assert payload.order_id == str(order.id) and payload.status == "partially_allocated"
    assert payload.billing_address == order.billing_address
    assert payload.lines == [
        MoneyLine(
            line_no=1, sku="TEE-M-BLK", quantity=2, unit_price="19.90", discount="0.00", tax="9.15"
        )
    ]
    assert (event.aggregate_version, event.channel) == (order.version, "web")


def test_an_event_field_the_order_lacks_is_a_clear_error_unless_given() -> None:
    line = placed_order().lines[0]
    assert project(BackorderedLine, line, quantity=5) == BackorderedLine(
        line_no=1, sku="TEE-M-BLK", quantity=5
    )
    with pytest.raises(TypeError, match=r"ShipmentDispatched.shipment_id: Order has no field"):
        order_event(ShipmentDispatched, placed_order())


def _leaves(value: Any, path: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in _leaves(item, (*path, key))]
    if isinstance(value, list):
        return [p for i, item in enumerate(value) for p in _leaves(item, (*path, i))]
    return [path]


def _changed(value: Any) -> Any:
    """Another valid value of the same kind: amounts stay decimals, times stay times."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if value is None:
        return "changed"
    try:
        return str(Decimal(value) + 1)
    except InvalidOperation:
        pass
    try:
        return (datetime.fromisoformat(value) + timedelta(days=1)).isoformat()
    except ValueError:
        return f"{value}-changed"


def test_the_erp_sales_order_carries_every_field_of_order_accepted() -> None:
    """Each value of the payload, changed alone, changes the sales order: a field the
    document leaves out (a new one, say) fails here until the document carries it."""
    base = accepted(placed_order()).payload.model_dump(mode="json")
    document = erp_sales_order(OrderAccepted.model_validate(base))
    ignored: list[tuple[str | int, ...]] = []
    for path in _leaves(base):
        variant = copy.deepcopy(base)
        target = variant
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = _changed(target[path[-1]])
        if erp_sales_order(OrderAccepted.model_validate(variant)) == document:
            ignored.append(path)
    assert [".".join(map(str, p)) for p in ignored if p[0] not in NOT_IN_THE_ERP_SALES_ORDER] == []
    # An exception the document has since started to carry is one to strike off the list.
    assert {p[0] for p in ignored} == NOT_IN_THE_ERP_SALES_ORDER.keys()
