"""Returns: shipped goods the customer sends back, and what the WMS received of them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

OPEN = "open"
RECEIVED = "received"
RESTOCK = "restock"  # back on hand at the receiving location
DAMAGED = "damaged"  # received, but not sellable: no stock changes
DISPOSITIONS = (RESTOCK, DAMAGED)


@dataclass(frozen=True, slots=True)
class ReturnLine:
    line_no: int
    sku: str
    quantity: int


@dataclass(frozen=True, slots=True, order=True)
class ReceivedLine:
    line_no: int
    sku: str
    quantity: int
    disposition: str  # RESTOCK or DAMAGED


@dataclass(slots=True)
class Return:
    order_id: uuid.UUID
    reason: str
    lines: list[ReturnLine]
    status: str = OPEN
    received: list[ReceivedLine] | None = None
    location: str | None = None  # where it was received
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    received_at: datetime | None = None

    def quantity(self, line_no: int) -> int:
        """How many units of the order's line `line_no` this return holds (0: none)."""
        return sum(line.quantity for line in self.lines if line.line_no == line_no)
