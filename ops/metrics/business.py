"""Business metrics from what the units of work commit (adapters.db.uow.commit_hooks):
backorders, and the units no location could reserve — each one an oversell prevented
(invariant 7: a reservation never takes ATP below zero, so what is short waits)."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import Counter

from adapters.db.uow import CommitHooks, commit_hooks
from domain.events import DomainEvent, OrderBackordered

BACKORDERS = Counter(
    "ordersync_backorders",
    "Orders (re)backordered: an order.backordered committed (at acceptance, or when stock "
    "shrank below what was reserved), by channel",
    ["channel"],
)
UNITS_SHORT = Counter(
    "ordersync_oversells_prevented_units",
    "Units a reservation was refused for lack of stock, as each order.backordered states "
    "them (an order backordered again counts its units again), by channel",
    ["channel"],
)


def observe_commit(events: Sequence[DomainEvent]) -> None:
    """Count the backorders among one transaction's events (a listener of the commit hooks)."""
    for event in events:
        payload = event.payload
        if isinstance(payload, OrderBackordered):
            BACKORDERS.labels(payload.channel).inc()
            UNITS_SHORT.labels(payload.channel).inc(sum(ln.quantity for ln in payload.lines))


def attach(hooks: CommitHooks = commit_hooks) -> None:
    """Count what this process's units of work commit (once, however often it is called)."""
    if observe_commit not in hooks.listeners:
        hooks.subscribe(observe_commit)
