"""The order aggregate: canonical order, lines, reservations and its status."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from domain.allocation import Allocation, Demand, Plan
from domain.money import Money, decimal_text
from domain.status import OrderStatus, check_transition


@dataclass(slots=True)
class OrderLine:
    line_no: int
    sku: str
    quantity: int
    unit_price: Money
    discount: Money
    tax: Money
    allocated: int = 0
    shipped: int = 0
    cancelled: int = 0  # taken off before shipment (edit or cancellation): the last units
    returned: int = 0  # on returns, opened or received: of the shipped units

    @property
    def live(self) -> int:
        """What the order still asks for of this line: ordered less cancelled."""
        return self.quantity - self.cancelled

    @property
    def unshipped(self) -> int:
        """What may still be shipped, or cancelled."""
        return self.live - self.shipped

    @property
    def backordered(self) -> int:
        """What is neither reserved nor shipped: the channel sold it, no stock covers it yet."""
        return self.live - self.allocated - self.shipped

    @property
    def total(self) -> Money:
        return self.unit_price.times(self.quantity) - self.discount + self.tax


@dataclass(slots=True)
class Reservation:
    order_id: uuid.UUID
    line_no: int
    sku: str
    location: str
    quantity: int
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(slots=True)
class Order:
    id: uuid.UUID
    channel: str
    external_id: str
    status: OrderStatus
    version: int
    currency: str
    placed_at: datetime
    customer: dict[str, Any]
    shipping_address: dict[str, Any]
    billing_address: dict[str, Any] | None
    shipping: dict[str, Any] | None
    payment: dict[str, Any] | None
    totals: dict[str, str]
    lines: list[OrderLine]
    fingerprint: str
    idempotency_key: str | None = None
    # A business customer's terms (domain/commands.B2bTermsIn, as JSON; None: a consumer's
    # order): purchase_order, company_account, payment_terms_days, requested_delivery_date.
    b2b: dict[str, Any] | None = None
    reservations: list[Reservation] = field(default_factory=list)
    holds: list[str] = field(default_factory=list)  # why it is on hold (empty: it is not)
    # The channel fulfils it from its own stock (Amazon FBA): recorded for the books, it
    # reserves nothing here, waits for no stock and the WMS is never asked to ship it.
    fulfilled_by_channel: bool = False
    customer_id: uuid.UUID | None = None
    # Which request created it (its X-Correlation-ID): set when the order is first stored.
    correlation_id: str | None = None
    # Money so far, in minor units of `currency` (the payments and documents hold detail).
    authorized_minor: int = 0
    captured_minor: int = 0
    refunded_minor: int = 0
    invoiced_minor: int = 0
    credited_minor: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def line(self, line_no: int) -> OrderLine:
        return next(line for line in self.lines if line.line_no == line_no)

    def move_to(self, target: OrderStatus) -> None:
        """Change status through the transition table (IllegalTransition otherwise)."""
        check_transition(self.status, target)
        self.status = target

    @property
    def money(self) -> dict[str, str]:
        """The money so far as decimal strings (what the API shows)."""
        currency = self.currency
        return {
            "authorized": decimal_text(self.authorized_minor, currency),
            "captured": decimal_text(self.captured_minor, currency),
            "refunded": decimal_text(self.refunded_minor, currency),
            "invoiced": decimal_text(self.invoiced_minor, currency),
            "credited": decimal_text(self.credited_minor, currency),
        }

    @property
    def on_hold(self) -> bool:
        return bool(self.holds)

    def allocation_status(self) -> OrderStatus:
        """The status the lines call for: allocated / partially_allocated / backordered from
        their allocation (on_hold instead while held); once anything has shipped,
        partially_fulfilled (fulfilled when all that is left has), whatever the open
        remainder's allocation — the lines show that, and the state machine never leads back
        from shipped to unshipped. Nothing left and nothing shipped: cancelled. An order
        the channel fulfils stays placed: nothing of it is ours to allocate."""
        if all(line.unshipped == 0 for line in self.lines):
            shipped = any(line.shipped for line in self.lines)
            return OrderStatus.FULFILLED if shipped else OrderStatus.CANCELLED
        if any(line.shipped for line in self.lines):
            return OrderStatus.PARTIALLY_FULFILLED
        if self.fulfilled_by_channel:
            return OrderStatus.PLACED
        if self.holds:
            return OrderStatus.ON_HOLD
        if all(line.allocated == line.live for line in self.lines):
            return OrderStatus.ALLOCATED
        if any(line.allocated for line in self.lines):
            return OrderStatus.PARTIALLY_ALLOCATED
        return OrderStatus.BACKORDERED

    def apply_plan(self, plan: Plan) -> list[Reservation]:
        """Record a plan's reservations on the lines and move the status to match."""
        new = [self._reserve(a) for a in plan.allocations]
        self.move_to(self.allocation_status())
        return new

    def _reserve(self, allocation: Allocation) -> Reservation:
        line = self.line(allocation.line_no)
        if allocation.quantity > line.backordered:
            raise ValueError(f"line {line.line_no} cannot take {allocation.quantity} more")
        line.allocated += allocation.quantity
        reservation = Reservation(
            self.id, allocation.line_no, allocation.sku, allocation.location, allocation.quantity
        )
        self.reservations.append(reservation)
        return reservation

    def release(self, reservation: Reservation, quantity: int) -> None:
        """Take `quantity` back from a reservation: the line is backordered by that much."""
        self.line(reservation.line_no).allocated -= quantity
        reservation.quantity -= quantity
        if reservation.quantity == 0:
            self.reservations.remove(reservation)

    def backorder_demands(self) -> list[Demand]:
        """What each line still needs, as demands for the allocator."""
        return [Demand(ln.line_no, ln.sku, ln.backordered) for ln in self.lines if ln.backordered]

    def bump(self) -> None:
        """One version step per committed change (not per transition)."""
        self.version += 1


def fingerprint(content: dict[str, Any]) -> str:
    """A stable hash of normalized order content: same order again ⇔ same fingerprint."""
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
