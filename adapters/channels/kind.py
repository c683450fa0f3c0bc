"""What a channel kind is, both directions, and the registry of kinds.

Inbound: how a request from a channel of the kind is verified, and how its body becomes
the canonical command; how the channel's own list of orders is read (for reconciling
lost webhooks). Outbound: which events the kind takes back, each by which client method
or by none and why (its table: adapters/channels/outbound.py), through which client.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from adapters.channels.outbound import Outbound
from adapters.channels.webhook import Webhook
from adapters.systems.handlers import HandlerTable, handlers
from adapters.systems.http import SystemClient
from domain.channel_commands import ChannelCommand, ChannelOrder
from domain.commands import PlaceOrder

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
