"""In-memory fakes of the persistence ports (cosmicpython style): tests assert on their state."""

from __future__ import annotations

import copy
import itertools
import uuid
from collections.abc import Sequence
from typing import Any

from domain.allocation import StockLevel
from domain.customers import CustomerProfile, profile_of
from domain.events import DomainEvent
from domain.holds import HoldRule
from domain.orders import Order, Reservation
from domain.ports import (
    AddedOrder,
    ChangeLog,
    HoldRuleRepository,
    InventoryRepository,
    OrderRepository,
    ShipmentRepository,
    SkuStock,
    UnitOfWork,
)
from domain.shipments import Shipment
from domain.status import OrderStatus


class FakeCustomers:
    """The customers table: profile and version per id (the database upserts them in the
    order's insert)."""

    def __init__(self) -> None:
        self.rows: dict[uuid.UUID, tuple[CustomerProfile, int]] = {}

    def upsert(self, profile: CustomerProfile) -> int | None:
        """The new version if the customer is new or its profile changed."""
        known = self.rows.get(profile.id)
        if known is not None and _profile(known[0]) == _profile(profile):
            return None
        version = 1 if known is None else known[1] + 1
        self.rows[profile.id] = (profile, version)
        return version


def _profile(p: CustomerProfile) -> tuple[object, ...]:
    return (p.name, p.phone, p.address)


class FakeHoldRules(HoldRuleRepository):
    def __init__(self) -> None:
        self.rules: list[HoldRule] = []

    def for_channel(self, channel: str) -> list[HoldRule]:
        return [rule for rule in self.rules if rule.applies_to(channel)]


class FakeOrderRepository(OrderRepository):
    """Orders stored as copies, as a database would: a change is only seen once saved."""

    def __init__(self) -> None:
        self.orders: dict[uuid.UUID, Order] = {}
        self.customers = FakeCustomers()
        self.reservation_seq: dict[uuid.UUID, int] = {}  # insertion order, to break time ties
        self._seq = itertools.count()

    def _store(self, order: Order) -> None:
        self.orders[order.id] = copy.deepcopy(order)
        for r in order.reservations:
            self.reservation_seq.setdefault(r.id, next(self._seq))

    def add(self, order: Order) -> AddedOrder | None:
        if self.find_duplicate(order) is not None:
            return None
        self._store(order)
        return AddedOrder(self.customers.upsert(profile_of(order)))

    def get(self, order_id: uuid.UUID, *, lock: bool = False) -> Order | None:
        order = self.orders.get(order_id)
        return copy.deepcopy(order) if order is not None else None

    def find_duplicate(self, order: Order) -> Order | None:
        found = [
            stored
            for stored in self.orders.values()
            if stored.channel == order.channel
            and (
                stored.external_id == order.external_id
                or (
                    order.idempotency_key is not None
                    and stored.idempotency_key == order.idempotency_key
                )
            )
        ]
        differing = [stored for stored in found if stored.fingerprint != order.fingerprint]
        chosen = (differing or found or [None])[0]
        return copy.deepcopy(chosen) if chosen else None

    def save(self, order: Order) -> None:
        assert order.id in self.orders, "save() is for stored orders"
        self._store(order)


class FakeInventoryRepository(InventoryRepository):
    def __init__(self, orders: FakeOrderRepository) -> None:
        self.levels: dict[tuple[str, str], StockLevel] = {}
        self.versions: dict[str, int] = {}
        self.priorities: dict[str, int] = {}  # location → priority
        self._orders = orders

    def seed(self, sku: str, location: str, on_hand: int, *, priority: int = 100) -> None:
        """Known stock, as if committed before the test (nothing reserved)."""
        self.versions.setdefault(sku, 0)
        self.priorities[location] = priority
        self.levels[(sku, location)] = StockLevel(sku, location, priority, on_hand, 0)

    def level(self, sku: str, location: str) -> StockLevel:
        return self.levels[(sku, location)]

    def lock(self, skus: Sequence[str]) -> dict[str, SkuStock]:
        return {
            sku: SkuStock(
                sku,
                self.versions[sku],
                [lv for key, lv in sorted(self.levels.items()) if key[0] == sku],
            )
            for sku in sorted(skus)
            if sku in self.versions
        }

    def ensure(self, pairs: Sequence[tuple[str, str]]) -> None:
        for sku, location in pairs:
            self.versions.setdefault(sku, 0)
            priority = self.priorities.setdefault(location, 100)
            self.levels.setdefault((sku, location), StockLevel(sku, location, priority, 0, 0))

    def save_levels(self, levels: Sequence[StockLevel]) -> None:
        for lv in levels:
            assert (lv.sku, lv.location) in self.levels, "save_levels() is for existing rows"
            self.levels[(lv.sku, lv.location)] = lv

    def bump_versions(self, skus: Sequence[str]) -> dict[str, int]:
        for sku in skus:
            self.versions[sku] += 1
        return {sku: self.versions[sku] for sku in skus}

    def newest_reservations(self, sku: str, location: str) -> list[Reservation]:
        found = [
            copy.deepcopy(r)
            for order in self._orders.orders.values()
            for r in order.reservations
            if r.sku == sku and r.location == location
        ]
        seq = self._orders.reservation_seq
        return sorted(found, key=lambda r: (r.created_at, seq[r.id]), reverse=True)


class FakeShipmentRepository(ShipmentRepository):
    def __init__(self) -> None:
        self.shipments: list[Shipment] = []

    def add(self, shipment: Shipment) -> None:
        self.shipments.append(copy.deepcopy(shipment))

    def find(self, order_id: uuid.UUID, carrier: str, tracking_number: str) -> Shipment | None:
        for shipment in self.shipments:
            if (shipment.order_id, shipment.carrier, shipment.tracking_number) == (
                order_id,
                carrier,
                tracking_number,
            ):
                return copy.deepcopy(shipment)
        return None


class FakeChangeLog(ChangeLog):
    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def record(
        self,
        order: Order,
        command: str,
        previous: OrderStatus | None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        self.entries.append(
            {
                "order_id": order.id,
                "version": order.version,
                "command": command,
                "status_from": None if previous is None else previous.value,
                "status_to": order.status.value,
                "detail": detail or {},
            }
        )


class FakeUnitOfWork(UnitOfWork):
    """One fake transaction: commit keeps the repositories' state, rollback restores it."""

    def __init__(self) -> None:
        self.orders = FakeOrderRepository()
        self.inventory = FakeInventoryRepository(self.orders)
        self.shipments = FakeShipmentRepository()
        self.hold_rules = FakeHoldRules()
        self.changes = FakeChangeLog()
        self.committed_events: list[DomainEvent] = []
        self.commits = 0
        self._snapshot: dict[str, Any] | None = None

    def _state(self) -> dict[str, Any]:
        return copy.deepcopy(
            {
                "orders": self.orders.orders,
                "customers": self.orders.customers.rows,
                "reservation_seq": self.orders.reservation_seq,
                "levels": self.inventory.levels,
                "versions": self.inventory.versions,
                "priorities": self.inventory.priorities,
                "shipments": self.shipments.shipments,
                "changes": self.changes.entries,
            }
        )

    def __enter__(self) -> FakeUnitOfWork:
        super().__enter__()
        self._snapshot = self._state()
        return self

    def commit(self) -> None:
        self.committed_events.extend(self.pending_events)
        self.pending_events = []
        self.commits += 1
        self._snapshot = self._state()

    def rollback(self) -> None:
        self.pending_events = []
        if self._snapshot is None:
            return
        state = copy.deepcopy(self._snapshot)
        self.orders.orders = state["orders"]
        self.orders.customers.rows = state["customers"]
        self.orders.reservation_seq = state["reservation_seq"]
        self.inventory.levels = state["levels"]
        self.inventory.versions = state["versions"]
        self.inventory.priorities = state["priorities"]
        self.shipments.shipments = state["shipments"]
        self.changes.entries = state["changes"]

    # What tests look at.

    def event_types(self) -> list[str]:
        return [e.event_type for e in self.committed_events]

    def stored(self, order_id: uuid.UUID) -> Order:
        return self.orders.orders[order_id]

    def reserved_by_orders(self, sku: str, location: str) -> int:
        return sum(
            r.quantity
            for order in self.orders.orders.values()
            for r in order.reservations
            if (r.sku, r.location) == (sku, location)
        )
