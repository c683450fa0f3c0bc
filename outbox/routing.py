"""Routing: which destinations receive each event type.

Adding a downstream system is one entry here (plus its actor and client).
Every channel is a destination of its own (`channel:<name>`), so sequences,
coalescing and circuit breakers are per channel.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from domain.events import EVENT_TYPES, DomainEvent


class Target(StrEnum):
    ERP = "erp"
    WMS = "wms"
    CRM = "crm"
    ORIGIN_CHANNEL = "origin-channel"  # the channel the order came from
    ALL_CHANNELS = "all-channels"  # every active channel (stock figures)


ROUTES: dict[str, tuple[Target, ...]] = {
    "order.accepted": (Target.ERP, Target.CRM, Target.ORIGIN_CHANNEL),
    "order.allocated": (Target.WMS,),
    "order.backordered": (Target.WMS, Target.ORIGIN_CHANNEL),
    "shipment.dispatched": (Target.ERP, Target.ORIGIN_CHANNEL),
    "inventory.changed": (Target.ALL_CHANNELS,),
}

missing = set(EVENT_TYPES) - set(ROUTES)
if missing:  # an event type nobody receives is a bug, caught at import
    raise RuntimeError(f"event types without a route: {sorted(missing)}")


def channel_destination(name: str) -> str:
    return f"channel:{name}"


def needs_channel_list(events: Iterable[DomainEvent]) -> bool:
    return any(Target.ALL_CHANNELS in ROUTES[e.event_type] for e in events)


def destinations(event: DomainEvent, channels: Iterable[str] = ()) -> list[str]:
    """The destinations of one event, in a stable order, without duplicates."""
    result: list[str] = []
    for target in ROUTES[event.event_type]:
        if target is Target.ORIGIN_CHANNEL:
            names: Iterable[str] = [event.channel] if event.channel else []
        elif target is Target.ALL_CHANNELS:
            names = sorted(channels)
        else:
            result.append(target.value)
            continue
        result.extend(channel_destination(n) for n in names)
    return list(dict.fromkeys(result))
