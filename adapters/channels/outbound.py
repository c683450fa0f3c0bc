"""What a channel kind takes back, said once: which events every channel takes back and
where each goes (TAKEN_BACK), and a kind's table of them (`outbound_table`), one entry per
event — the client method that sends it (`on(Schema, Client.method)`) or, for an event
the channel has no call for, `nothing(Schema, why)`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from adapters.systems.handlers import Handler
from domain.events import (
    EventPayload,
    InventoryChanged,
    OrderAccepted,
    OrderAmended,
    OrderBackordered,
    OrderCancelled,
    OrderHeld,
    OrderReleased,
    RefundRecorded,
    ReturnOpened,
    ReturnReceived,
    ShipmentDispatched,
)
from outbox.routing import ALL_CHANNELS, CHANNEL_TARGETS, ORIGIN_CHANNEL

# What every channel takes back, and where each goes (outbox.routing): the statuses of its
# own orders, and every stock figure. Each kind says, per event type, how it sends it —
# or that it sends nothing, and why (`outbound_table`).
TAKEN_BACK: Mapping[type[EventPayload], str] = {
    OrderAccepted: ORIGIN_CHANNEL,
    OrderBackordered: ORIGIN_CHANNEL,
    ShipmentDispatched: ORIGIN_CHANNEL,
    RefundRecorded: ORIGIN_CHANNEL,
    OrderCancelled: ORIGIN_CHANNEL,
    OrderAmended: ORIGIN_CHANNEL,
    ReturnOpened: ORIGIN_CHANNEL,
    ReturnReceived: ORIGIN_CHANNEL,
    OrderHeld: ORIGIN_CHANNEL,
    OrderReleased: ORIGIN_CHANNEL,
    InventoryChanged: ALL_CHANNELS,
}


@dataclass(frozen=True, slots=True)
class _SendNothing:
    """A send that makes no call: what the delivery's handler returns says why."""

    why: str

    def __call__(self, client: object, payload: object, /, *, idempotency_key: str) -> str:
        return f"not sent: {self.why}"


def nothing(schema: type[EventPayload], why: str) -> Handler[Any]:
    """The entry of an event the kind takes back but has no call for: its payload is
    validated like any other (a bad one is still a dead letter), then nothing is sent —
    by name, not by a client method that silently does nothing."""
    return Handler(schema, _SendNothing(why))


@dataclass(frozen=True, slots=True)
class Outbound:
    """An event the kind takes back: where it goes (outbox.routing's ORIGIN_CHANNEL or
    ALL_CHANNELS) and the client method that sends it."""

    target: str
    handler: Handler[Any]

    def __post_init__(self) -> None:
        if self.target not in CHANNEL_TARGETS:
            raise ValueError(f"a channel target is one of {CHANNEL_TARGETS}, not {self.target!r}")


def outbound_table(*entries: Handler[Any]) -> tuple[Outbound, ...]:
    """A kind's outbound table: one entry per event type of TAKEN_BACK — a client method
    (`on(Schema, Client.method)`) or `nothing(Schema, why)` — each to its target. An event
    type left out, given twice or not taken back by channels fails at import, naming it."""
    given: dict[str, Handler[Any]] = {}
    for entry in entries:
        if entry.schema not in TAKEN_BACK:
            raise ValueError(f"channels do not take back {entry.event_type!r}")
        if entry.event_type in given:
            raise ValueError(f"two outbound entries for {entry.event_type!r}")
        given[entry.event_type] = entry
    missing = sorted(schema.event_type for schema in TAKEN_BACK if schema.event_type not in given)
    if missing:
        raise ValueError(
            f"no outbound entry for {', '.join(missing)}: send it, or say why not with nothing()"
        )
    return tuple(Outbound(TAKEN_BACK[entry.schema], entry) for entry in entries)
