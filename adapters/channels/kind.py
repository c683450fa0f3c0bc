"""What a channel kind is, both directions, and the registry of kinds.

Inbound: how a request from a channel of the kind is verified, and how its body becomes
the canonical command; how the channel's own list of orders is read (for reconciling
lost webhooks). Outbound: which events the kind takes back (each to the order's own
channel or to every channel, TAKEN_BACK), by which client method or by none, and why
(`outbound_table`, `nothing`), through which client.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from adapters.channels.webhook import Webhook
from adapters.systems.handlers import Handler, HandlerTable, handlers
from adapters.systems.http import SystemClient
from domain.channel_commands import ChannelCommand, ChannelOrder
from domain.commands import PlaceOrder
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

Normalize = Callable[[object], PlaceOrder]
# (api_url, *, channel=name, read_timeout_s=…, credentials=the channel's decrypted outbound
# credentials, a Mapping[str, str], or None)
ClientFactory = Callable[..., SystemClient]


@dataclass(frozen=True, slots=True)
class ListedOrder:
    """An order as the channel lists it: its document (what the kind's `normalize` takes),
    when the channel last changed it, and its external id as ordersync knows it (the
    lister reads it from the channel's own field; "" if the document has none)."""

    updated_at: datetime
    document: Any
    external_id: str = ""


# (the kind's client, updated since) → the channel's orders changed since then, every page.
ListOrders = Callable[[Any, datetime], Iterator[ListedOrder]]
# A listed order's document → the commands a poll applies (as its door's would).
ListedCommands = Callable[[Any], Sequence[ChannelCommand]]


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


@dataclass(frozen=True, slots=True)
class ChannelKind:
    name: str
    verification: str  # how its requests are verified (today: "api-key", at the HTTP door)
    normalize: Normalize  # a request's parsed JSON body → the canonical command
    client: ClientFactory  # for a channel of this kind that has an --api-url
    outbound: tuple[Outbound, ...]
    # The kind whose formats this one speaks until it gets its own (None: its own).
    speaks_as: str | None = None
    # How its channels' orders are listed (None: they cannot be, so no reconciliation).
    list_orders: ListOrders | None = None
    # How a listed order becomes commands (None: a ChannelOrder of `normalize`'s command at
    # the listed time, for a kind whose documents carry no version or cancellation).
    listed_commands: ListedCommands | None = None
    # Its own door, POST /v1/webhooks/<name> (None: it has none; adapters/channels/webhook.py).
    webhook: Webhook | None = None
    handlers: HandlerTable[Any] = field(init=False)
    targets: Mapping[str, str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "handlers", handlers(*(o.handler for o in self.outbound)))
        object.__setattr__(self, "targets", {o.handler.event_type: o.target for o in self.outbound})

    def polled(self, listed: ListedOrder) -> Sequence[ChannelCommand]:
        """The commands of an order the channel listed: what a poll applies, through the
        same appliers and business versions as the kind's door (a ValidationError if the
        document cannot be taken)."""
        if self.listed_commands is not None:
            return self.listed_commands(listed.document)
        order = self.normalize(listed.document)
        return (ChannelOrder(order=order, version_at=listed.updated_at),)

    def spoken_by(self, name: str) -> ChannelKind:
        """Another kind that speaks this one's formats, both ways, until it has its own."""
        return replace(self, name=name, speaks_as=self.name)


class ChannelKinds(Mapping[str, ChannelKind]):
    """The kinds by name, the canonical one first. Every kind takes back the same event
    types, each to the same target: the outbox routes a channel's events without knowing
    its kind, so a kind that took fewer would receive messages it has no handler for."""

    def __init__(self, *kinds: ChannelKind) -> None:
        if not kinds:
            raise ValueError("no channel kinds")
        self._kinds = {k.name: k for k in kinds}
        if len(self._kinds) != len(kinds):
            raise ValueError("a channel kind is named twice")
        first = kinds[0]
        for kind in kinds[1:]:
            if kind.targets != first.targets:
                raise ValueError(
                    f"channel kind {kind.name!r} takes back {dict(kind.targets)}, "
                    f"{first.name!r} takes {dict(first.targets)}: they must agree"
                )
        self.first = first

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._kinds)

    @property
    def targets(self) -> Mapping[str, str]:
        """Event type → where it goes, for every channel (the routing's channel half)."""
        return self.first.targets

    def __getitem__(self, name: str) -> ChannelKind:
        try:
            return self._kinds[name]
        except KeyError:
            raise KeyError(
                f"unknown channel kind {name!r}; one of {', '.join(self._kinds)}"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._kinds)

    def __len__(self) -> int:
        return len(self._kinds)
