"""Rows ↔ domain objects, by name: a column holds the model's field of the same name."""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Iterable
from datetime import datetime
from enum import Enum
from typing import Any

import sqlalchemy as sa

from adapters.db import tables
from domain.money import Money
from domain.orders import Order, OrderLine, Reservation

# Money is stored as integer minor units in `<field>_minor`, in the order's currency.
_MINOR = "_minor"


def _column_values(table: sa.Table, source: object) -> dict[str, Any]:
    """Each of `table`'s columns that `source` has a field for, by name."""
    values: dict[str, Any] = {}
    for column in table.c:
        name = column.name
        if name.endswith(_MINOR) and hasattr(source, name.removesuffix(_MINOR)):
            values[name] = getattr(source, name.removesuffix(_MINOR)).minor
        elif hasattr(source, name):
            value = getattr(source, name)
            values[name] = value.value if isinstance(value, Enum) else value
    return values


def _field_values(model: type, table: sa.Table, row: Any, currency: str = "") -> dict[str, Any]:
    """Each of `model`'s fields that `table` has a column for, read from `row` by name."""
    kinds = _field_types(model)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(model):
        kind = kinds[f.name]
        if kind is Money and f.name + _MINOR in table.c:
            values[f.name] = Money(getattr(row, f.name + _MINOR), currency)
        elif f.name in table.c:
            value = getattr(row, f.name)
            if isinstance(kind, type) and issubclass(kind, Enum):
                value = kind(value)
            values[f.name] = value
    return values


@functools.cache
def _field_types(model: type) -> dict[str, Any]:
    """A dataclass's field types, resolved (the domain modules postpone annotations);
    `X | None` as X."""
    hints = typing.get_type_hints(model)
    return {name: _unoptional(hint) for name, hint in hints.items()}


def _unoptional(hint: Any) -> Any:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        arms = [a for a in typing.get_args(hint) if a is not type(None)]
        return arms[0] if len(arms) == 1 else hint
    return hint


def order_row(order: Order, now: datetime) -> dict[str, Any]:
    """The orders row of an order (change_seq, which it has no field for, is the database's
    to set)."""
    return {
        **_column_values(tables.orders, order),
        "created_at": order.created_at or now,
        "updated_at": now,
    }


def line_rows(order: Order) -> list[dict[str, Any]]:
    return [{**_column_values(tables.order_lines, ln), "order_id": order.id} for ln in order.lines]


def reservation_rows(reservations: Iterable[Reservation]) -> list[dict[str, Any]]:
    return [_column_values(tables.reservations, r) for r in reservations]


def reservation(row: Any) -> Reservation:
    return Reservation(**_field_values(Reservation, tables.reservations, row))


def order(row: Any, lines: Iterable[Any], reservations: Iterable[Any]) -> Order:
    currency = row.currency
    return Order(
        **_field_values(Order, tables.orders, row),
        lines=[
            OrderLine(**_field_values(OrderLine, tables.order_lines, ln, currency))
            for ln in sorted(lines, key=lambda ln: ln.line_no)
        ],
        reservations=[reservation(r) for r in reservations],
    )
