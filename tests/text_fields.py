"""The text fields of the request models, found by walking them (not listed by hand).

A field is a dotted path into a valid document ("lines.0.sku", "customer.name") with
the max_length its model declares; the limit tests build a value at that length and
one past it for every field found, so a new field is covered without a new test.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass

from pydantic import BaseModel


@dataclass(frozen=True, slots=True)
class TextField:
    model: str  # the model the field belongs to ("RecordShipment", "AddressIn")
    name: str  # the field's own name
    path: str  # dotted path from the command ("billing_address.line1", "lines.0.sku")
    max_length: int
    email: bool  # values must look like an address (a pattern), not just be text


def _arms(annotation: object) -> list[object]:
    """The non-None members of a union (or the annotation itself)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [a for a in typing.get_args(annotation) if a is not type(None)]
    return [annotation]


def _unannotated(arm: object, metadata: list[object]) -> tuple[object, list[object]]:
    """An Annotated arm's type, with its metadata added to the field's own."""
    if typing.get_origin(arm) is typing.Annotated:
        inner, *extra = typing.get_args(arm)
        return inner, [*metadata, *extra]
    return arm, metadata


def text_fields(model: type[BaseModel], prefix: str = "") -> list[TextField]:
    """Every str field with a max_length under `model`, nested models and lists included."""
    found: list[TextField] = []
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        for arm in _arms(info.annotation):
            kind, metadata = _unannotated(arm, list(info.metadata))
            if typing.get_origin(kind) is list:
                (item,) = typing.get_args(kind)
                if isinstance(item, type) and issubclass(item, BaseModel):
                    found += text_fields(item, f"{path}.0.")
            elif isinstance(kind, type) and issubclass(kind, BaseModel):
                found += text_fields(kind, f"{path}.")
            elif kind is str:
                limits = [m.max_length for m in metadata if getattr(m, "max_length", None)]
                patterns = [getattr(m, "pattern", None) or "" for m in metadata]
                if not limits and any(patterns):
                    continue  # a code of fixed shape (country, currency): its pattern bounds it
                assert limits, f"{model.__name__}.{name} is text without a max_length"
                email = any("@" in p for p in patterns)
                found.append(TextField(model.__name__, name, path, min(limits), email))
    return found


def value_of_length(field: TextField, length: int, tag: str = "") -> str:
    """A valid value of exactly `length` characters for `field` (unique with `tag`)."""
    if field.email:
        domain = "@example.com"
        return (tag + "a" * length)[: length - len(domain)] + domain
    return (tag + "Z" * length)[:length]
