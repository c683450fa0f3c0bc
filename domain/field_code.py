"""Copy functions generated from a dataclass's type hints: one per (target, source class).

The API's order document and the order events name their fields once (a schema, a
payload model) and take each value from the order's attribute of that name. Done by
inspecting every value on every request, that cost a tenth of the API's CPU per order;
so, as `dataclasses` does for `__init__`, the copy is written out as Python source once
per target and source class, each value converted by what its type hint says.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
import uuid
from collections.abc import Callable
from datetime import datetime
from enum import Enum
from typing import Any

from domain.money import Money

# The copy function of a nested record class (a list's items, a member object), or None
# to take such a value as it is.
Nested = Callable[[type], Callable[[Any], Any] | None]


@functools.cache
def hints(cls: type) -> dict[str, Any]:
    """A dataclass's fields and properties with the types they are declared with."""
    found = dict(typing.get_type_hints(cls))
    for name, member in vars(cls).items():
        if isinstance(member, property) and member.fget is not None:
            found[name] = typing.get_type_hints(member.fget).get("return", Any)
    return found


def expression(
    value: str, hint: Any, namespace: dict[str, Any], nested: Nested, *, dates_as_text: bool
) -> str:
    """Python source that turns `value` (an expression of type `hint`) into plain data:
    ids and money their text, enums their value, datetimes their ISO text when
    `dates_as_text`, a record (or a list of them) through its `nested` copy function."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args:
        (inner,) = [a for a in args if a is not type(None)]
        converted = expression(value, inner, namespace, nested, dates_as_text=dates_as_text)
        return value if converted == value else f"(None if {value} is None else {converted})"
    if isinstance(hint, type):
        if issubclass(hint, uuid.UUID | Money):  # Money first: it is a dataclass too
            return f"str({value})"
        if issubclass(hint, Enum):
            return f"{value}.value"
        if issubclass(hint, datetime):
            return f"{value}.isoformat()" if dates_as_text else value
    if typing.get_origin(hint) is list and args and _is_record(args[0]):
        copy = nested(args[0])
        return value if copy is None else f"[{_bind(namespace, copy)}(x) for x in {value}]"
    if _is_record(hint):
        copy = nested(hint)
        return value if copy is None else f"{_bind(namespace, copy)}({value})"
    return value


def _is_record(cls: object) -> bool:
    return isinstance(cls, type) and dataclasses.is_dataclass(cls)


def _bind(namespace: dict[str, Any], function: Callable[[Any], Any]) -> str:
    name = f"_copy{len(namespace)}"
    namespace[name] = function
    return name


def compile_function(
    name: str, params: str, body: str, namespace: dict[str, Any]
) -> Callable[..., Any]:
    """`def name(params): return body`, compiled in `namespace`."""
    source = f"def {name}({params}):\n    return {body}\n"
    exec(compile(source, f"<{name}>", "exec"), namespace)  # our own source, from type hints
    return namespace[name]  # type: ignore[no-any-return]
