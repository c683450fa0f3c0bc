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
from domain.finance import FinancialDocument, Payment, Refund, ReturnedGoods
from domain.holds import HoldRule
from domain.orders import Order, Reservation
from domain.ports import (
    AddedOrder,
    Backorder,
    ChangeLog,
    ChannelSyncRepository,
    ChannelVersion,
    FinanceRepository,
    HoldRuleRepository,
    InventoryRepository,
    OrderRepository,
    ReturnRepository,
    SafetyRule,
    SafetyStockRepository,
    ShipmentRepository,
    SkuStock,
    UnitOfWork,
)
from domain.returns import Return
from domain.sellable import resolve
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
        self.locked: list[list[uuid.UUID]] = []  # each lock_many call's ids, in lock order

    def _store(self, order: Order) -> None:
        self.orders[order.id] = copy.deepcopy(order)
        for r in order.reservations:
            self.reservation_seq.setdefault(r.id, next(self._seq))

    def add(self, order: Order, customer: CustomerProfile) -> AddedOrder | None:
        assert customer == profile_of(order), "add() takes the order's own profile"
        if self.find_duplicate(order) is not None:
            return None
        self._store(order)
        return AddedOrder(self.customers.upsert(customer))

    def get(self, order_id: uuid.UUID, *, lock: bool = False) -> Order | None:
        if lock:
            self.locked.append([order_id])
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

    def backorders(self, skus: Sequence[str]) -> list[Backorder]:
        queue = sorted(self.orders.values(), key=lambda o: (o.placed_at, str(o.id)))
        return [
            Backorder(order.id, line.line_no, line.sku, line.backordered)
            for order in queue
            if not order.fulfilled_by_channel  # the channel's own stock: never waits for ours
            for line in order.lines
            if line.sku in skus and line.backordered
        ]

    def lock_many(self, order_ids: Sequence[uuid.UUID]) -> list[Order]:
        self.locked.append(sorted(order_ids))
        return [copy.deepcopy(self.orders[i]) for i in sorted(order_ids) if i in self.orders]


class FakeInventoryRepository(InventoryRepository):
    def __init__(self, orders: FakeOrderRepository) -> None:
        self.levels: dict[tuple[str, str], StockLevel] = {}
        self.versions: dict[str, int] = {}
        self.priorities: dict[str, int] = {}  # location → priority
        self.safety: dict[tuple[str, str, str], int] = {}  # (channel, location, sku) → units
        self._orders = orders

    def seed(self, sku: str, location: str, on_hand: int, *, priority: int = 100) -> None:
        """Known stock, as if committed before the test (nothing reserved)."""
        self.versions.setdefault(sku, 0)
        self.priorities[location] = priority
        self.levels[(sku, location)] = StockLevel(sku, location, priority, on_hand, 0)

    def level(self, sku: str, location: str) -> StockLevel:
        return self.levels[(sku, location)]

    def lock(self, skus: Sequence[str]) -> dict[str, SkuStock]:
        rows = [(c, loc, s, q) for (c, loc, s), q in self.safety.items()]
        result = {}
        for sku in sorted(skus):
            if sku not in self.versions:
                continue
            levels = [lv for key, lv in sorted(self.levels.items()) if key[0] == sku]
            stocked = {lv.location for lv in levels}
            safety = {loc: c for loc, c in resolve(rows, sku).items() if loc in stocked}
            result[sku] = SkuStock(sku, self.versions[sku], levels, safety)
        return result

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

    def location_exists(self, location: str) -> bool:
        return location in self.priorities


class FakeSafetyStockRepository(SafetyStockRepository):
    def __init__(self, inventory: FakeInventoryRepository) -> None:
        self.inventory = inventory
        self.channels: set[str] = set()

    def lock_location(self, location: str) -> bool:
        return location in self.inventory.priorities

    def channel_exists(self, channel: str) -> bool:
        return channel in self.channels

    def skus_at(self, location: str) -> list[str]:
        return sorted(sku for sku, loc in self.inventory.levels if loc == location)

    def put(self, rule: SafetyRule) -> None:
        self.inventory.safety[(rule.channel, rule.location, rule.sku)] = rule.quantity

    def remove(self, channel: str, location: str, sku: str) -> bool:
        return self.inventory.safety.pop((channel, location, sku), None) is not None

    def rules(self, channel: str | None = None) -> list[SafetyRule]:
        return [
            SafetyRule(c, loc, sku, q)
            for (c, loc, sku), q in sorted(self.inventory.safety.items())
            if channel in (None, c)
        ]


class FakeReturnRepository(ReturnRepository):
    def __init__(self) -> None:
        self.returns: dict[uuid.UUID, Return] = {}

    def add(self, ret: Return) -> None:
        self.returns[ret.id] = copy.deepcopy(ret)

    def get(self, return_id: uuid.UUID, *, lock: bool = False) -> Return | None:
        found = self.returns.get(return_id)
        return copy.deepcopy(found) if found is not None else None

    def save(self, ret: Return) -> None:
        assert ret.id in self.returns, "save() is for stored returns"
        self.returns[ret.id] = copy.deepcopy(ret)


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

    def of_order(self, order_id: uuid.UUID) -> list[Shipment]:
        return [copy.deepcopy(s) for s in self.shipments if s.order_id == order_id]


class FakeFinanceRepository(FinanceRepository):
    def __init__(self, opened: FakeReturnRepository | None = None) -> None:
        self.payment_list: list[Payment] = []
        self.refund_list: list[Refund] = []
        self.document_list: list[FinancialDocument] = []
        self.returns: dict[uuid.UUID, ReturnedGoods] = {}  # set by tests directly
        self.opened = opened  # the returns opened through the services, read as the table

    def payments(self, order_id: uuid.UUID) -> list[Payment]:
        return [p for p in self.payment_list if p.order_id == order_id]

    def documents(self, order_id: uuid.UUID) -> list[FinancialDocument]:
        return [d for d in self.document_list if d.order_id == order_id]

    def find_payment(self, kind: str, transaction_id: str) -> Payment | None:
        found = (
            p for p in self.payment_list if (p.kind, p.transaction_id) == (kind, transaction_id)
        )
        return next(found, None)

    def add_payment(self, payment: Payment) -> bool:
        if self.find_payment(payment.kind, payment.transaction_id):
            return False
        self.payment_list.append(payment)
        return True

    def find_refund(self, transaction_id: str) -> Refund | None:
        return next((r for r in self.refund_list if r.transaction_id == transaction_id), None)

    def refund_of_return(self, return_id: uuid.UUID) -> Refund | None:
        return next((r for r in self.refund_list if r.return_id == return_id), None)

    def add_refund(self, refund: Refund) -> bool:
        if self.find_refund(refund.transaction_id):
            return False
        self.refund_list.append(refund)
        return True

    def add_document(self, document: FinancialDocument) -> None:
        self.document_list.append(document)

    def returned_goods(self, return_id: uuid.UUID) -> ReturnedGoods | None:
        if return_id in self.returns:
            return self.returns[return_id]
        ret = None if self.opened is None else self.opened.get(return_id)
        if ret is None:
            return None
        lines = {ln.line_no: ret.quantity(ln.line_no) for ln in ret.lines}
        return ReturnedGoods(ret.id, ret.order_id, lines)


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


class FakeChannelSync(ChannelSyncRepository):
    """Channel orders' business versions (the tie rule of domain/channel_order_sync.py)
    and SKU mapping; the orders by external id are the fake order repository's."""

    def __init__(self, orders: FakeOrderRepository) -> None:
        self.orders = orders
        self.versions: dict[tuple[str, str], ChannelVersion] = {}
        self.mapping: dict[tuple[str, str], str] = {}

    def advance(
        self, channel: str, external_id: str, version: ChannelVersion, delivery: int | None
    ) -> bool:
        stored = self.versions.get((channel, external_id))
        if stored is not None:
            new, old = (
                (version.version_at, version.version_no),
                (
                    stored.version_at,
                    stored.version_no,
                ),
            )
            if new < old or (new == old and version.fingerprint == stored.fingerprint):
                return False
        self.versions[(channel, external_id)] = version
        return True

    def order_id(self, channel: str, external_id: str) -> uuid.UUID | None:
        return next(
            (
                o.id
                for o in self.orders.orders.values()
                if (o.channel, o.external_id) == (channel, external_id)
            ),
            None,
        )

    def skus(self, channel: str, channel_skus: Sequence[str]) -> dict[str, str]:
        return {s: self.mapping[(channel, s)] for s in channel_skus if (channel, s) in self.mapping}


class FakeUnitOfWork(UnitOfWork):
    """One fake transaction: commit keeps the repositories' state, rollback restores it."""

    def __init__(self) -> None:
        self.orders = FakeOrderRepository()
        self.inventory = FakeInventoryRepository(self.orders)
        self.shipments = FakeShipmentRepository()
        self.hold_rules = FakeHoldRules()
        self.changes = FakeChangeLog()
        self.returns = FakeReturnRepository()
        self.finance = FakeFinanceRepository(self.returns)
        self.safety = FakeSafetyStockRepository(self.inventory)
        self.channel_sync = FakeChannelSync(self.orders)
        self.channels = ["web"]  # the active channels
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
                "finance": (
                    self.finance.payment_list,
                    self.finance.refund_list,
                    self.finance.document_list,
                ),
                "safety": self.inventory.safety,
                "returns": self.returns.returns,
                "channel_versions": self.channel_sync.versions,
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
        (
            self.finance.payment_list,
            self.finance.refund_list,
            self.finance.document_list,
        ) = state["finance"]
        self.inventory.safety = state["safety"]
        self.returns.returns = state["returns"]
        self.channel_sync.versions = state["channel_versions"]

    def active_channels(self) -> list[str]:
        return sorted(self.channels)

    # What tests look at.

    def state(self) -> dict[str, Any]:
        """Everything committed (a copy): equal before and after means nothing was written."""
        return self._state()

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
