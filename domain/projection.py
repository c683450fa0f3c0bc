"""Event payloads filled from domain objects by field name, so a field is declared once.

An event schema names what it carries; where that is the order's own shape (its
header fields, its lines, its reservations) the values come from the object's
attribute of the same name instead of a second list in the service.
"""

from __future__ import annotations

import functools
import typing
import uuid
from collections.abc import Callable
from enum import Enum
from typing import Any, TypeVar

from pydantic import BaseModel

from domain import field_code
from domain.events import DomainEvent, EventPayload
from domain.money import Money
from domain.orders import Order

P = TypeVar("P", bound=BaseModel)


def project(model: type[P], source: object, **given: Any) -> P:
    """`model` with each field taken from `source`'s attribute of that name (`given` wins).

    Values become what a payload holds: an enum its value, money and ids their strings,
    a list of objects a list of the field's item model, projected the same way.
    """
    cls: type = type(source)
    return typing.cast(P, _projector(model, cls, tuple(given))(source, given))


Projector = Callable[[Any, dict[str, Any]], BaseModel]


@functools.cache
def _projector(model: type[BaseModel], cls: type, given: tuple[str, ...]) -> Projector:
    """The projection of a `cls` into `model`, compiled once (domain.field_code): every
    order event is projected through one."""
    hints, namespace = field_code.hints(cls), {"_model": model, "_plain": _plain}
    arguments = []
    for name, item in _fields(model):
        if name in given:
            arguments.append(f"{name}=given[{name!r}]")
            continue
        if name in hints:
            nested = _items_into(item)
            value = field_code.expression(
                f"o.{name}", hints[name], namespace, nested, dates_as_text=False
            )
        elif hasattr(cls, name):  # an attribute without a type hint: converted as it comes
            namespace[f"_item_{name}"] = item
            value = f"_plain(o.{name}, _item_{name})"
        else:
            raise TypeError(
                f"{model.__name__}.{name}: {cls.__name__} has no field {name!r}; pass it explicitly"
            )
        arguments.append(f"{name}={value}")
    body = "_model(" + ", ".join(arguments) + ")"
    return field_code.compile_function(f"project_{cls.__name__}", "o, given", body, namespace)


def _items_into(item: type[BaseModel] | None) -> field_code.Nested:
    """How a list of records becomes a list of `item` models (None: as it is)."""

    def nested(record: type) -> Callable[[Any], Any] | None:
        if item is None:
            return None
        inner = _projector(item, record, ())

        def copy(element: Any) -> BaseModel:
            return inner(element, {})

        return copy

    return nested


@functools.cache
def _fields(model: type[BaseModel]) -> tuple[tuple[str, type[BaseModel] | None], ...]:
    """Each field's name and, for a `list[Model]`, its item model: read once per model, as
    every order event is projected through it."""
    return tuple((name, _item_model(info.annotation)) for name, info in model.model_fields.items())


_AS_IS = frozenset({str, int, bool, type(None), dict})


def _plain(value: Any, item: type[BaseModel] | None) -> Any:
    if type(value) in _AS_IS:
        return value
    if item is not None and isinstance(value, list):
        return [project(item, element) for element in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Money | uuid.UUID):
        return str(value)
    return value


def _item_model(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model of a `list[Model]` field, if that is what the field is."""
    if typing.get_origin(annotation) is not list:
        return None
    (item,) = typing.get_args(annotation)
    return item if isinstance(item, type) and issubclass(item, BaseModel) else None


def order_event(model: type[EventPayload], order: Order, **given: Any) -> DomainEvent:
    """An event of `order` at its current version: `model` projected from the order, its
    `order_id` the order's id."""
    payload = project(model, order, order_id=str(order.id), **given)
    return DomainEvent(payload, order.version, order.channel)
