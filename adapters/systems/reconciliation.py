"""What reconciling with a downstream system is: the order as ordersync holds it, a
discrepancy found at the system, and what a system's module declares to be reconciled —
how to read what the system holds, and how to compare one order with it.

A system with a read API declares a `Reconciliation` in its module (actors/<name>.py)
and names it in its SYSTEMS entry; `ordersync reconcile --system NAME` then works for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Generic, TypeVar

KINDS = ("missing", "amount", "status", "duplicate")
# What a reprocess replay of the order's deliveries puts right. A duplicate is not: the
# system holds a second document, which only the system can cancel.
REPAIRABLE = frozenset({"missing", "amount", "status"})

Held = TypeVar("Held")


@dataclass(frozen=True, slots=True)
class OrderOnRecord:
    """An order as ordersync holds it, with its deliveries to one destination."""

    order_id: str
    external_id: str
    channel: str
    currency: str
    grand_total: Decimal
    fully_shipped: bool  # every unit not cancelled has shipped
    shipments: frozenset[tuple[str, str]]  # (location, tracking number)
    # The order's deliveries to the destination: (ledger id, status, generation), by id.
    deliveries: tuple[tuple[int, str, int], ...]
    cancelled: bool = False  # the whole order was cancelled (nothing of it shipped)


@dataclass(frozen=True, slots=True)
class Discrepancy:
    kind: str  # one of KINDS
    order_id: str
    external_id: str
    document: str  # what is wrong, in the system's words: "sales order", "invoice WH/T1"
    expected: str
    found: str


@dataclass(frozen=True, slots=True)
class Reconciliation(Generic[Held]):
    # (the system's client, changed since) → every document it holds changed since then
    read: Callable[[Any, datetime], Iterable[Held]]
    order_of: Callable[[Held], str]  # the order id a held document belongs to
    # What is wrong with the documents held of one order whose deliveries were all
    # applied (none held: an empty list).
    compare: Callable[[OrderOnRecord, list[Held]], list[Discrepancy]]
    # The system stamps its changes by its own clock: it is asked for what it changed
    # from this long before the window compared, so a clock behind ours misses nothing.
    clock_margin: timedelta = timedelta(hours=1)
