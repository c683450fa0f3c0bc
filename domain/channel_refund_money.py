"""What a channel's refund says it gave back per line, and for which of the refund's parts
that is exactly the money to credit (domain/channel_updates.py apply_refund)."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from domain.channel_commands import ChannelRefundLine


class StatedMoney:
    """What the channel says it gave back per line (its refund lines' net and tax), for
    the lines where that is exactly the money of the units one part of the refund credits:
    every refund line of it states its amounts, none of its units was cancelled here (the
    channel's figure would include units whose money was never captured here), and all
    its shipped units go to one part (one return, or the partial refund). Other lines are
    credited at their units' own shares, as a kind that states nothing is."""

    def __init__(self) -> None:
        self._amounts: dict[int, tuple[Decimal, Decimal]] = {}
        self._parts: dict[int, set[str | None]] = defaultdict(set)
        self._unstated: set[int] = set()

    def add(self, asked: ChannelRefundLine, unshipped: int, part: str | None) -> None:
        """One refund line: `unshipped` of its units cancelled, the rest to `part` (a
        restock location's return, or None: the partial refund)."""
        line_no = asked.line_no
        if asked.net is None or asked.tax is None or unshipped:
            self._unstated.add(line_no)
            return
        self._parts[line_no].add(part)
        net, tax = self._amounts.get(line_no, (Decimal(0), Decimal(0)))
        self._amounts[line_no] = (net + asked.net, tax + asked.tax)

    def of(self, units: dict[int, int]) -> dict[int, tuple[Decimal, Decimal]]:
        """The stated (net, tax) of those of `units`' lines whose amounts are theirs."""
        return {
            line_no: self._amounts[line_no]
            for line_no in units
            if line_no in self._amounts
            and line_no not in self._unstated
            and len(self._parts[line_no]) == 1
        }
