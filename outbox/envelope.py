"""The event envelope on the wire: one message per event and destination."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class Envelope(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: uuid.UUID  # stable across retries and replays
    event_type: str
    event_version: int
    aggregate_type: str
    aggregate_id: str
    aggregate_version: int  # one step per committed change of the aggregate
    destination: str  # erp, wms, crm or channel:<name>
    sequence: int  # 1, 2, 3… per (aggregate, destination)
    generation: int  # 0; a reprocess replay raises it
    occurred_at: datetime
    correlation_id: str | None
    causation_id: str | None
    channel: str | None
    payload: dict[str, Any]

    def idempotency_key(self) -> str:
        """The key sent to external systems: the same for a redelivery, new per generation."""
        return str(uuid.uuid5(self.event_id, f"{self.destination}/{self.generation}"))
