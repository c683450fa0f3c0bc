"""What a channel is told it can sell: ATP less its safety stock, per location.

A channel's safety stock at a location is what it is never offered of that location's
ATP (another channel, a store's walk-in customers, keep it); a SKU's own figure overrides
the location's figure for every SKU ('*'). The sellable quantity of a SKU for a channel
is Σ over locations max(0, atp − safety) — never on_hand, and never below 0 anywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from domain.allocation import StockLevel
from domain.events import DomainEvent, InventoryChanged, LocationStock

ALL_SKUS = "*"

# location → channel → units held back (already resolved for one SKU: its own rows over '*')
Safety = Mapping[str, Mapping[str, int]]


def resolve(rows: Iterable[tuple[str, str, str, int]], sku: str) -> dict[str, dict[str, int]]:
    """The safety stock of `sku` from (channel, location, sku or '*', quantity) rows: per
    location and channel, the SKU's own row if there is one, else the '*' row."""
    own: dict[str, dict[str, int]] = {}
    every: dict[str, dict[str, int]] = {}
    for channel, location, row_sku, quantity in rows:
        if row_sku == sku:
            own.setdefault(location, {})[channel] = quantity
        elif row_sku == ALL_SKUS:
            every.setdefault(location, {})[channel] = quantity
    result = {location: dict(by_channel) for location, by_channel in every.items()}
    for location, by_channel in own.items():
        result.setdefault(location, {}).update(by_channel)
    return result


def sellable(
    levels: Iterable[StockLevel], safety: Safety, channels: Iterable[str]
) -> dict[str, int]:
    """Each channel's sellable quantity of the SKU whose `levels` these are.

    A channel with no safety stock of the SKU anywhere may sell its ATP (each level's is
    floored at 0 already): worked out once for all of them, per location only for the
    channels that have some (every stock event carries every active channel's figure)."""
    levels = list(levels)
    atp = sum(lv.atp for lv in levels)
    if not safety:
        return dict.fromkeys(sorted(channels), atp)
    held_back = {channel for by_channel in safety.values() for channel in by_channel}
    return {
        channel: sum(max(0, lv.atp - safety.get(lv.location, {}).get(channel, 0)) for lv in levels)
        if channel in held_back
        else atp
        for channel in sorted(channels)
    }


def inventory_changed(
    sku: str,
    levels: Iterable[StockLevel],
    safety: Safety,
    channels: Iterable[str],
    version: int,
    channel: str | None,
) -> DomainEvent:
    """inventory.changed of a SKU at aggregate `version`: its ATP, per location, and what
    each channel may sell of it."""
    ordered = sorted(levels, key=lambda lv: lv.location)
    payload = InventoryChanged(
        sku=sku,
        atp=sum(lv.atp for lv in ordered),
        locations=[
            LocationStock(
                location=lv.location, on_hand=lv.on_hand, reserved=lv.reserved, atp=lv.atp
            )
            for lv in ordered
        ],
        sellable=sellable(ordered, safety, channels),
    )
    return DomainEvent(payload, version, channel)
