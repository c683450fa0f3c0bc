"""Ports: what domain services need from persistence, implemented in adapters/db."""

from __future__ import annotations

import abc
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.allocation import StockLevel
from domain.customers import CustomerProfile
from domain.events import DomainEvent
from domain.finance import FinancialDocument, Payment, Refund, ReturnedGoods
from domain.holds import HoldRule
from domain.orders import Order, Reservation
from domain.returns import Return
from domain.shipments import Shipment
from domain.status import OrderStatus


@dataclass(frozen=True, slots=True)
class Backorder:
    """A backordered order line: what it still needs, and its order's place in the queue."""

    order_id: uuid.UUID
    line_no: int
    sku: str
    quantity: int


@dataclass(frozen=True, slots=True)
class SafetyRule:
    """One safety_stock row: `quantity` of `sku` ('*': every SKU) at `location` is never
    offered to `channel`."""

    channel: str
    location: str
    sku: str
    quantity: int


@dataclass(frozen=True, slots=True)
class SkuStock:
    """A SKU's locked stock: its aggregate version, one level per location, and the safety
    stock of the SKU per location and channel (its own figure over the '*' one)."""

    sku: str
    version: int
    levels: list[StockLevel] = field(default_factory=list)
    safety: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def atp(self) -> int:
        return sum(level.atp for level in self.levels)


@dataclass(frozen=True, slots=True)
class AddedOrder:
    """A new order inserted; its customer's new version if the order made the customer or
    changed its profile (None: the customer was known as the order describes it)."""

    customer_version: int | None


class OrderRepository(abc.ABC):
    @abc.abstractmethod
    def add(self, order: Order, customer: CustomerProfile) -> AddedOrder | None:
        """Insert a new order with its lines and reservations, and upsert its customer
        (`customer`: domain.customers.profile_of of the order, which the caller has
        already; order.customer_id names it); None if (channel, external_id) or
        (channel, Idempotency-Key) is already taken."""

    @abc.abstractmethod
    def get(self, order_id: uuid.UUID, *, lock: bool = False) -> Order | None:
        """The order with its lines and reservations; `lock` holds its row until commit."""

    @abc.abstractmethod
    def find_duplicate(self, order: Order) -> Order | None:
        """The stored order with the same (channel, external_id) or Idempotency-Key; if two
        match, the one whose content differs from `order`."""

    @abc.abstractmethod
    def save(self, order: Order) -> None:
        """Write status, version, line quantities and reservations of a locked order."""

    @abc.abstractmethod
    def backorders(self, skus: Sequence[str]) -> list[Backorder]:
        """The backordered lines of these SKUs, oldest order first (placed_at, then id);
        read without locking (the caller holds the SKUs, so those lines cannot change)."""

    @abc.abstractmethod
    def lock_many(self, order_ids: Sequence[uuid.UUID]) -> list[Order]:
        """These orders, their rows locked in id order (one consistent order for every
        writer that locks several); missing ones are absent."""


class InventoryRepository(abc.ABC):
    @abc.abstractmethod
    def lock(self, skus: Sequence[str]) -> dict[str, SkuStock]:
        """Lock the known SKUs among `skus` in sorted order (until commit) and read their
        stock; unknown SKUs are absent from the result."""

    @abc.abstractmethod
    def ensure(self, pairs: Sequence[tuple[str, str]]) -> None:
        """Create missing SKUs, locations (as warehouses) and zero stock rows."""

    @abc.abstractmethod
    def save_levels(self, levels: Sequence[StockLevel]) -> None:
        """Write on_hand and reserved of these (locked) stock rows."""

    @abc.abstractmethod
    def bump_versions(self, skus: Sequence[str]) -> dict[str, int]:
        """Advance the aggregate version of each (locked) SKU; returns the new versions."""

    @abc.abstractmethod
    def newest_reservations(self, sku: str, location: str) -> list[Reservation]:
        """Reservations of that stock row, newest first."""

    @abc.abstractmethod
    def location_exists(self, location: str) -> bool:
        """Whether the location is registered (read, not locked: locations are not removed)."""


class SafetyStockRepository(abc.ABC):
    @abc.abstractmethod
    def lock_location(self, location: str) -> bool:
        """Lock the location's row (until commit) against new stock rows there; False if
        there is no such location."""

    @abc.abstractmethod
    def channel_exists(self, channel: str) -> bool:
        """Whether a channel of that name is registered."""

    @abc.abstractmethod
    def skus_at(self, location: str) -> list[str]:
        """The SKUs that have a stock row at the location, sorted."""

    @abc.abstractmethod
    def put(self, rule: SafetyRule) -> None:
        """Create or replace the rule of (channel, location, sku)."""

    @abc.abstractmethod
    def remove(self, channel: str, location: str, sku: str) -> bool:
        """Delete the rule of (channel, location, sku); False if there was none."""

    @abc.abstractmethod
    def rules(self, channel: str | None = None) -> list[SafetyRule]:
        """Every rule (of one channel), by channel, location and SKU."""


class ReturnRepository(abc.ABC):
    @abc.abstractmethod
    def add(self, ret: Return) -> None:
        """Insert a new (open) return."""

    @abc.abstractmethod
    def get(self, return_id: uuid.UUID, *, lock: bool = False) -> Return | None:
        """The return; `lock` holds its row until commit."""

    @abc.abstractmethod
    def save(self, ret: Return) -> None:
        """Write the status, received lines, location and received_at of a locked return."""


class ShipmentRepository(abc.ABC):
    @abc.abstractmethod
    def add(self, shipment: Shipment) -> None:
        """Insert a shipment."""

    @abc.abstractmethod
    def find(self, order_id: uuid.UUID, carrier: str, tracking_number: str) -> Shipment | None:
        """The shipment already recorded under this tracking number, if any."""

    @abc.abstractmethod
    def of_order(self, order_id: uuid.UUID) -> list[Shipment]:
        """The order's shipments, oldest first."""


class FinanceRepository(abc.ABC):
    """Payments, refunds and financial documents (domain.finance); callers hold the order's
    lock, so an order's money records change one transaction at a time."""

    @abc.abstractmethod
    def payments(self, order_id: uuid.UUID) -> list[Payment]:
        """The order's payments, oldest first."""

    @abc.abstractmethod
    def documents(self, order_id: uuid.UUID) -> list[FinancialDocument]:
        """The order's invoices and credit memos, oldest first."""

    @abc.abstractmethod
    def find_payment(self, kind: str, transaction_id: str) -> Payment | None:
        """The payment recorded for this (kind, platform transaction id), if any."""

    @abc.abstractmethod
    def add_payment(self, payment: Payment) -> bool:
        """Insert a payment; False if its (kind, transaction_id) was taken meanwhile."""

    @abc.abstractmethod
    def find_refund(self, transaction_id: str) -> Refund | None:
        """The refund recorded for this platform transaction id, if any."""

    @abc.abstractmethod
    def refund_of_return(self, return_id: uuid.UUID) -> Refund | None:
        """The refund already made for a return, if any (a return is refunded once)."""

    @abc.abstractmethod
    def add_refund(self, refund: Refund) -> bool:
        """Insert a refund; False if its transaction_id was taken meanwhile."""

    @abc.abstractmethod
    def add_document(self, document: FinancialDocument) -> None:
        """Insert an invoice or credit memo."""

    @abc.abstractmethod
    def returned_goods(self, return_id: uuid.UUID) -> ReturnedGoods | None:
        """A return's order and lines, if there is such a return."""


class HoldRuleRepository(abc.ABC):
    @abc.abstractmethod
    def for_channel(self, channel: str) -> list[HoldRule]:
        """The rules that screen the channel's orders (its own and every channel's)."""


class ChangeLog(abc.ABC):
    """Every committed change of an order, for its timeline: written in the same
    transaction as the change, so there is no change without its entry or the reverse."""

    @abc.abstractmethod
    def record(
        self,
        order: Order,
        command: str,
        previous: OrderStatus | None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """`order` at its current version was changed by `command` (place, release, edit,
        cancel, ship, capture, …) from status `previous` (None: it is new); `detail` is what
        the command asked for (JSON). Who sent it and the correlation id are the unit of
        work's."""


@dataclass(frozen=True, slots=True)
class ChannelVersion:
    """A channel order's business version: the channel's clock of it, what breaks a tie
    within one tick of that clock (0 where the channel has nothing), and the fingerprint
    of the order's content at that version (domain/channel_order_sync.py)."""

    version_at: datetime
    version_no: int
    fingerprint: str


class ChannelSyncRepository(abc.ABC):
    """What applying a channel's own delivery needs beside the order services' ports:
    the business versions of its orders, its SKU mapping, its orders by external id."""

    @abc.abstractmethod
    def advance(
        self, channel: str, external_id: str, version: ChannelVersion, delivery: int | None
    ) -> bool:
        """Make `version` the channel order's newest if it is newer than the one stored
        (or of the same tick with other content: the tie rule of
        domain/channel_order_sync.py), in one statement under the (channel, external_id)
        key — a concurrent applier of the same order waits for this transaction; False:
        it is stale, and nothing was written."""

    @abc.abstractmethod
    def order_id(self, channel: str, external_id: str) -> uuid.UUID | None:
        """The id of the channel's order of that external id, if there is one."""

    @abc.abstractmethod
    def skus(self, channel: str, channel_skus: Sequence[str]) -> dict[str, str]:
        """The channel's SKUs among these that are mapped (`ordersync sku map`) → ours."""


class UnitOfWork(abc.ABC):
    """One database transaction: repositories, and the events to write to the outbox."""

    orders: OrderRepository
    inventory: InventoryRepository
    shipments: ShipmentRepository
    finance: FinanceRepository
    hold_rules: HoldRuleRepository
    changes: ChangeLog
    safety: SafetyStockRepository
    returns: ReturnRepository
    channel_sync: ChannelSyncRepository

    def __enter__(self) -> UnitOfWork:
        self.pending_events: list[DomainEvent] = []
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.rollback()

    def emit(self, *events: DomainEvent) -> None:
        """Queue events; commit() writes them to the outbox in the same transaction."""
        self.pending_events.extend(events)

    @abc.abstractmethod
    def active_channels(self) -> list[str]:
        """The active channels' names, sorted: the ones a stock figure goes to (the same
        list the outbox writer routes this transaction's stock events with)."""

    @abc.abstractmethod
    def commit(self) -> None:
        """Write the pending events as outbox rows, then commit everything at once."""

    @abc.abstractmethod
    def rollback(self) -> None:
        """Discard everything (a no-op after commit)."""
