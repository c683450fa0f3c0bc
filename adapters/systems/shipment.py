"""A shipment as the system clients read it (from a shipment event's payload)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class ShippedLine(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    sku: str = Field(min_length=1)
    quantity: int = Field(gt=0)


class Shipment(BaseModel):
    """What the ERP invoice and the channel's "shipped" status need; other fields are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    order_id: str
    channel: str
    external_id: str
    location: str
    carrier: str
    tracking_number: str
    lines: list[ShippedLine] = Field(min_length=1)
    shipped_at: datetime | None = None
