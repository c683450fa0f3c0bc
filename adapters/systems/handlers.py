"""Handler tables: which client method takes which event type, typed, with no if-chains.

A downstream system (actors/<name>.py) and a channel kind (adapters/channels/<kind>.py)
each declare one table: `handlers(on(OrderAccepted, ErpClient.post_sales_order), …)`.
The event type is the payload schema's own, so a table cannot file a method under the
wrong event; the payload is validated with that schema before the method sees it.

A message whose event type the table lacks is a bug (routing sent it where nothing takes
it): `dispatch` raises `Unhandled`, a permanent error, so it becomes a dead letter with
that reason, never a delivery marked applied by a handler that did nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from adapters.systems.errors import PermanentError
from domain.events import EVENT_TYPES, EventPayload
from outbox.envelope import Envelope

Client = TypeVar("Client")
Client_contra = TypeVar("Client_contra", contravariant=True)
Payload = TypeVar("Payload", bound=EventPayload)
Payload_contra = TypeVar("Payload_contra", bound=EventPayload, contravariant=True)


class Send(Protocol[Client_contra, Payload_contra]):
    """A client method: `def post_x(self, payload, *, idempotency_key) -> reply`."""

    def __call__(
        self, client: Client_contra, payload: Payload_contra, /, *, idempotency_key: str
    ) -> object: ...


class Unhandled(PermanentError):
    """The destination has no handler for this event type (a routing bug)."""


@dataclass(frozen=True, slots=True)
class Handler(Generic[Client]):
    """One table entry: the payload's schema and the method that sends it."""

    schema: type[EventPayload]
    send: Send[Client, Any]

    @property
    def event_type(self) -> str:
        return self.schema.event_type

    def __call__(self, client: Client, envelope: Envelope) -> object:
        payload = self.schema.model_validate(envelope.payload)
        return self.send(client, payload, idempotency_key=envelope.idempotency_key())


def on(schema: type[Payload], send: Send[Client, Payload]) -> Handler[Client]:
    """The entry for `schema`'s event type: validate the payload with it, then `send`."""
    return Handler(schema, send)


HandlerTable = Mapping[str, Handler[Client]]


def handlers(*entries: Handler[Client]) -> dict[str, Handler[Client]]:
    """A table by event type; an event type twice, or one the domain does not know, fails."""
    table: dict[str, Handler[Client]] = {}
    for entry in entries:
        if entry.event_type not in EVENT_TYPES:
            raise ValueError(f"{entry.event_type!r} is not an event type of domain.events")
        if entry.event_type in table:
            raise ValueError(f"two handlers for {entry.event_type!r}")
        table[entry.event_type] = entry
    return table


def dispatch(table: HandlerTable[Client], client: Client, envelope: Envelope) -> object:
    """Apply the envelope with its table entry; a missing entry is `Unhandled`."""
    handler = table.get(envelope.event_type)
    if handler is None:
        raise Unhandled(
            envelope.destination,
            f"no handler for {envelope.event_type!r} (it handles {', '.join(sorted(table))})",
        )
    return handler(client, envelope)
