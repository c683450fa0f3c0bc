"""The safety-stock service: set or remove what a channel is never offered of a location's
stock, and tell the channels at once what they may sell now.

Lock order: the SKUs, sorted, as every stock writer takes them; then the location row,
so that no stock row appears there while the rule changes (a new stock row's foreign key
check waits for it). A writer that adds a stock row locks its SKU first too, so the two
orders agree. A stock row added between reading the location's SKUs and locking the
location makes the change start again (ConcurrencyConflict), with that SKU locked too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from domain.commands import SetSafetyStock
from domain.errors import ConcurrencyConflict, NotFound, ValidationFailed
from domain.ports import SafetyRule, SkuStock, UnitOfWork
from domain.sellable import ALL_SKUS, inventory_changed, sellable


@dataclass(frozen=True, slots=True)
class SafetyChange:
    """A rule as it now is (None: removed), and its channel's sellable figure per SKU."""

    rule: SafetyRule | None
    sellable: dict[str, int]


def set_safety_stock(uow: UnitOfWork, cmd: SetSafetyStock) -> SafetyChange:
    """Create or replace the rule of (channel, location, sku or '*')."""
    rule = SafetyRule(cmd.channel, cmd.location, cmd.sku, cmd.quantity)

    def put() -> SafetyRule:
        uow.safety.put(rule)
        return rule

    return _change(uow, cmd.channel, cmd.location, cmd.sku, put)


def remove_safety_stock(uow: UnitOfWork, channel: str, location: str, sku: str) -> SafetyChange:
    """Delete the rule of (channel, location, sku or '*'); NotFound if there is none."""

    def remove() -> None:
        if not uow.safety.remove(channel, location, sku):
            raise NotFound(f"no safety stock for {channel} at {location} for {sku}")

    return _change(uow, channel, location, sku, remove)


def _change(
    uow: UnitOfWork,
    channel: str,
    location: str,
    sku: str,
    write: Callable[[], SafetyRule | None],
) -> SafetyChange:
    with uow:
        if not uow.safety.channel_exists(channel):
            raise ValidationFailed(
                f"no channel {channel}", errors=[{"field": "channel", "message": "unknown channel"}]
            )
        skus = uow.safety.skus_at(location) if sku == ALL_SKUS else [sku]
        before = uow.inventory.lock(skus)
        if not uow.safety.lock_location(location):
            raise ValidationFailed(
                f"no location {location}",
                errors=[{"field": "location", "message": "unknown location"}],
            )
        if sku == ALL_SKUS and uow.safety.skus_at(location) != skus:
            raise ConcurrencyConflict()  # a SKU was first stocked there meanwhile
        rule = write()
        after = uow.inventory.lock(skus)  # the same locks: a re-read for the new safety stock
        channels = uow.active_channels()
        moved = sorted(
            s for s in after if _figures(after[s], channels) != _figures(before[s], channels)
        )
        versions = uow.inventory.bump_versions(moved)
        uow.emit(
            *(
                inventory_changed(s, after[s].levels, after[s].safety, channels, versions[s], None)
                for s in moved
            )
        )
        uow.commit()
    mine = {s: sellable(after[s].levels, after[s].safety, [channel])[channel] for s in after}
    return SafetyChange(rule, mine)


def _figures(stock: SkuStock, channels: list[str]) -> dict[str, int]:
    return sellable(stock.levels, stock.safety, channels)
