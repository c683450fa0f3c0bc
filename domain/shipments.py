"""Shipments: what left a location for an order."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime


@dataclass(frozen=True, slots=True)
class ShippedLine:
    sku: str
    quantity: int


@dataclass(slots=True)
class Shipment:
    order_id: uuid.UUID
    location: str
    carrier: str
    tracking_number: str
    lines: list[ShippedLine]
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
