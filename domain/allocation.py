"""Fulfilment routing: which location reserves which quantity of which line.

Pure functions over a snapshot of stock; the caller holds the locks.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StockLevel:
    sku: str
    location: str
    priority: int
    on_hand: int
    reserved: int

    @property
    def atp(self) -> int:
        return max(self.on_hand - self.reserved, 0)


@dataclass(frozen=True, slots=True)
class Demand:
    line_no: int
    sku: str
    quantity: int


@dataclass(frozen=True, slots=True)
class Allocation:
    line_no: int
    sku: str
    location: str
    quantity: int


@dataclass(frozen=True, slots=True)
class Plan:
    allocations: tuple[Allocation, ...]
    backordered: dict[int, int]  # line_no → quantity that no location could cover


def _by_priority(levels: Iterable[StockLevel]) -> list[StockLevel]:
    return sorted(levels, key=lambda s: (s.priority, s.location))


def allocate(demands: Sequence[Demand], stock: Iterable[StockLevel]) -> Plan:
    """Reserve from one location that can ship everything, else split; the rest is backordered.

    Locations are tried by priority (lower first), then code, so the result is
    deterministic for the same stock.
    """
    atp: dict[tuple[str, str], int] = {}
    locations: dict[str, int] = {}
    for level in _by_priority(stock):
        atp[(level.sku, level.location)] = level.atp
        locations.setdefault(level.location, level.priority)
    ordered = sorted(locations, key=lambda loc: (locations[loc], loc))

    needed: dict[str, int] = {}
    for d in demands:
        needed[d.sku] = needed.get(d.sku, 0) + d.quantity
    for loc in ordered:
        if all(atp.get((sku, loc), 0) >= qty for sku, qty in needed.items()):
            return Plan(tuple(Allocation(d.line_no, d.sku, loc, d.quantity) for d in demands), {})

    allocations: list[Allocation] = []
    backordered: dict[int, int] = {}
    for d in demands:
        remaining = d.quantity
        for loc in ordered:
            if remaining == 0:
                break
            take = min(atp.get((d.sku, loc), 0), remaining)
            if take > 0:
                atp[(d.sku, loc)] -= take
                remaining -= take
                allocations.append(Allocation(d.line_no, d.sku, loc, take))
        if remaining:
            backordered[d.line_no] = remaining
    return Plan(tuple(allocations), backordered)
