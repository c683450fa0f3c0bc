"""Ports: what domain services need from persistence, implemented in adapters/db."""

from __future__ import annotations

import abc
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from domain.allocation import StockLevel
from domain.events import DomainEvent
from domain.holds import HoldRule
from domain.orders import Order, Reservation
from domain.shipments import Shipment
from domain.status import OrderStatus


@dataclass(frozen=True, slots=True)
class SkuStock:
    """A SKU's locked stock: its aggregate version and one level per location."""

    sku: str
    version: int
    levels: list[StockLevel] = field(default_factory=list)

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
    def add(self, order: Order) -> AddedOrder | None:
        """Insert a new order with its lines and reservations, and upsert its customer
        (domain.customers.profile_of; order.customer_id names it); None if (channel,
        external_id) or (channel, Idempotency-Key) is already taken."""

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


class ShipmentRepository(abc.ABC):
    @abc.abstractmethod
    def add(self, shipment: Shipment) -> None:
        """Insert a shipment."""

    @abc.abstractmethod
    def find(self, order_id: uuid.UUID, carrier: str, tracking_number: str) -> Shipment | None:
        """The shipment already recorded under this tracking number, if any."""


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


class UnitOfWork(abc.ABC):
    """One database transaction: repositories, and the events to write to the outbox."""

    orders: OrderRepository
    inventory: InventoryRepository
    shipments: ShipmentRepository
    hold_rules: HoldRuleRepository
    changes: ChangeLog

    def __enter__(self) -> UnitOfWork:
        self.pending_events: list[DomainEvent] = []
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.rollback()

    def emit(self, *events: DomainEvent) -> None:
        """Queue events; commit() writes them to the outbox in the same transaction."""
        self.pending_events.extend(events)

    @abc.abstractmethod
    def commit(self) -> None:
        """Write the pending events as outbox rows, then commit everything at once."""

    @abc.abstractmethod
    def rollback(self) -> None:
        """Discard everything (a no-op after commit)."""
