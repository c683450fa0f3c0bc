"""Rows ↔ domain objects, by name: a column holds the model's field of the same name."""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Callable, Iterable
from datetime import datetime
from enum import Enum
from typing import Any

import sqlalchemy as sa

from adapters.db import tables
from domain import field_code
from domain.money import Money
from domain.orders import Order, OrderLine, Reservation

# Money is stored as integer minor units in `<field>_minor`, in the order's currency.
_MINOR = "_minor"


def _column_values(table: sa.Table, source: object) -> dict[str, Any]:
    """Each of `table`'s columns that `source` has a field for, by name."""
    return _row_writer(table, type(source))(source)  # type: ignore[no-any-return]


@functools.cache
def _row_writer(table: sa.Table, kind: type) -> Callable[[Any], dict[str, Any]]:
    """The row of a `kind`, its columns matched to attributes by name once per table and
    class and compiled (domain.field_code): rows are built on every write, the matching
    need not be. Money goes in minor units into `<field>_minor`, an enum as its value."""
    hints = field_code.hints(kind)
    values = []
    for column in table.c:
        name = column.name
        if name.endswith(_MINOR) and name.removesuffix(_MINOR) in hints:
            values.append(f"{name!r}: o.{name.removesuffix(_MINOR)}.minor")
        elif name in hints:
            hint = _unoptional(hints[name])
            value = f"o.{name}"
            if isinstance(hint, type) and issubclass(hint, Enum):
                value = f"(None if {value} is None else {value}.value)"
            values.append(f"{name!r}: {value}")
    body = "{" + ", ".join(values) + "}"
    return field_code.compile_function(f"{table.name}_row", "o", body, {})


def _field_values(model: type, table: sa.Table, row: Any, currency: str = "") -> dict[str, Any]:
    """Each of `model`'s fields that `table` has a column for, read from `row` by name."""
    values: dict[str, Any] = {}
    for field, column, kind in _read_plan(model, table):
        value = getattr(row, column)
        if kind is Money:
            values[field] = Money(value, currency)
        else:
            values[field] = value if kind is None else kind(value)
    return values


@functools.cache
def _read_plan(model: type, table: sa.Table) -> tuple[tuple[str, str, Any], ...]:
    """(field, its column, Money / an Enum class / None for as stored), once per model."""
    kinds = _field_types(model)
    plan: list[tuple[str, str, Any]] = []
    for f in dataclasses.fields(model):
        kind = kinds[f.name]
        if kind is Money and f.name + _MINOR in table.c:
            plan.append((f.name, f.name + _MINOR, Money))
        elif f.name in table.c:
            enum = kind if isinstance(kind, type) and issubclass(kind, Enum) else None
            plan.append((f.name, f.name, enum))
    return tuple(plan)


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
