"""Splitting an amount in minor units into parts that always add up to it.

Discounts and taxes are stated per line, for the whole line; shipments, cancellations
and refunds take part of a line. Each unit of a line carries an equal share of its
discount and tax by largest remainder (the remainder's minor units go to the first
units), so any set of units has an exact value, and the units of a line's parcels,
cancellations and returns add up to the line to the minor unit, however it is cut.

Which units a change takes: shipments the first unshipped ones (from the front),
cancellations the last ones (from the back), returns the shipped ones in shipping order.
"""

from __future__ import annotations

from collections.abc import Sequence


def unit_range(total: int, units: int, start: int, count: int) -> int:
    """The sum of units [start, start + count) of `total` shared over `units` equal units
    by largest remainder (unit i gets total // units, plus one while i < total % units)."""
    if count == 0:
        return 0
    if units <= 0 or start < 0 or start + count > units:
        raise ValueError(f"units {start}..{start + count} of {units}")
    base, remainder = divmod(total, units)
    extra = max(0, min(start + count, remainder) - min(start, remainder))
    return base * count + extra


def split(total: int, weights: Sequence[int]) -> list[int]:
    """`total` in parts proportional to `weights` by largest remainder (Hamilton): each
    part is the floor of its quota, and the minor units left over go to the largest
    fractional remainders, ties to the earlier weight. The parts add up to `total`."""
    if total < 0:
        return [-part for part in split(-total, weights)]
    whole = sum(weights)
    if whole <= 0:
        if total:
            raise ValueError("cannot split a non-zero amount over no weight")
        return [0 for _ in weights]
    if any(w < 0 for w in weights):
        raise ValueError("weights are not negative")
    parts = [total * w // whole for w in weights]
    left = total - sum(parts)
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % whole), i))
    for i in by_remainder[:left]:
        parts[i] += 1
    return parts
