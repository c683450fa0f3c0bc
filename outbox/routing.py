"""Routing: which destinations receive each event type — data, handed in from above.

The outbox sits below the actors and never imports them, so it knows no downstream
system by name. The composition root (ops.wiring) builds a `Routing` from what each
system's handler table takes and what the channel kinds take back, and hands it to the
writer through the unit of work. An event type that no destination takes fails when the
`Routing` is made, which the product does at start-up.

Every channel is a destination of its own (`channel:<name>`), so sequences, coalescing
and circuit breakers are per channel.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from domain.events import EVENT_TYPES, DomainEvent
from outbox.queues import CHANNEL_PREFIX

ORIGIN_CHANNEL = "origin-channel"  # the channel the order came from
ALL_CHANNELS = "all-channels"  # every active channel (stock figures)
CHANNEL_TARGETS = (ORIGIN_CHANNEL, ALL_CHANNELS)
# A system's name is its destination, its queue and part of its setting's name
# (ORDERSYNC_<NAME>_URL): lower-case letters and digits, a letter first.
SYSTEM_NAME = re.compile(r"[a-z][a-z0-9]*")


class RoutingError(ValueError):
    """The routing table is inconsistent (an event type nobody takes, an unknown target)."""


def channel_destination(name: str) -> str:
    return f"{CHANNEL_PREFIX}{name}"


@dataclass(frozen=True)
class Routing:
    """Event type → its targets, in order: system names, then ORIGIN_CHANNEL/ALL_CHANNELS."""

    routes: Mapping[str, tuple[str, ...]]
    systems: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        unknown = set(self.routes) - set(EVENT_TYPES)
        if unknown:
            raise RoutingError(f"routes for unknown event types: {sorted(unknown)}")
        missing = sorted(t for t in EVENT_TYPES if not self.routes.get(t))
        if missing:  # an event type nobody receives is a bug, caught before anything runs
            raise RoutingError(f"event types without a route: {missing}")
        systems: dict[str, None] = {}
        for event_type, targets in self.routes.items():
            for target in targets:
                if target in CHANNEL_TARGETS:
                    continue
                if not SYSTEM_NAME.fullmatch(target):
                    raise RoutingError(
                        f"{event_type}: {target!r} is neither a system name "
                        f"({SYSTEM_NAME.pattern}) nor one of {CHANNEL_TARGETS}"
                    )
                systems[target] = None
        object.__setattr__(self, "systems", tuple(systems))

    @classmethod
    def of(cls, systems: Mapping[str, Iterable[str]], channels: Mapping[str, str]) -> Routing:
        """From what each system takes (name → event types; in the order given) and where
        each event type channels take goes (event type → ORIGIN_CHANNEL or ALL_CHANNELS)."""
        routes: dict[str, list[str]] = {}
        for name, event_types in systems.items():
            for event_type in event_types:
                routes.setdefault(event_type, []).append(name)
        for event_type, target in channels.items():
            if target not in CHANNEL_TARGETS:
                raise RoutingError(f"{event_type}: {target!r} is not one of {CHANNEL_TARGETS}")
            routes.setdefault(event_type, []).append(target)
        return cls({t: tuple(targets) for t, targets in routes.items()})

    def needs_channel_list(self, events: Iterable[DomainEvent]) -> bool:
        return any(ALL_CHANNELS in self.routes[e.event_type] for e in events)

    def destinations(self, event: DomainEvent, channels: Iterable[str] = ()) -> list[str]:
        """The destinations of one event, in a stable order, without duplicates."""
        result: list[str] = []
        for target in self.routes[event.event_type]:
            if target == ORIGIN_CHANNEL:
                names: Iterable[str] = [event.channel] if event.channel else []
            elif target == ALL_CHANNELS:
                names = sorted(channels)
            else:
                result.append(target)
                continue
            result.extend(channel_destination(n) for n in names)
        return list(dict.fromkeys(result))
