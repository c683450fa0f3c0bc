"""The service-level objectives ordersync states and measures.

Each objective times one journey a retailer cares about, from the moment it starts to the
moment the system at the other end has been told, and states a threshold and the share of
journeys that must finish within it. The metrics (a histogram per objective, with the
threshold as one of its bucket bounds), the alert rules (ops/alerts/) and the dashboard's
"delayed" lists are all built from this table, so they cannot disagree.

The journeys start where the product records them:
- order acknowledgment: the channel's request arrives → the API answers 201;
- inventory sync: the outbox row of an `inventory.changed` is written (the ATP changed)
  → the channel's actor has applied it at the channel;
- shipment update: the outbox row of a `shipment.dispatched` is written (the WMS shipped)
  → the origin channel's actor has told the channel;
- refund processing: the outbox row of a `refund.recorded` is written → the ERP's actor
  has posted the credit memo.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Objective:
    name: str  # metric-safe: ordersync_slo_<name>_seconds
    title: str
    threshold_seconds: float
    target: float  # the share of journeys within the threshold, e.g. 0.99
    event_type: str | None  # the event whose delivery ends the journey (None: the API)
    destination: str | None  # where that delivery goes: a system ("erp") or "channel:" (any)

    def met_by(self, seconds: float) -> bool:
        return seconds <= self.threshold_seconds


ORDER_ACKNOWLEDGMENT = Objective(
    "order_acknowledgment", "Order acknowledged (request → 201)", 0.5, 0.99, None, None
)
INVENTORY_SYNC = Objective(
    "inventory_sync",
    "Inventory synced (ATP change → channel updated)",
    60.0,
    0.99,
    "inventory.changed",
    "channel:",
)
SHIPMENT_UPDATE = Objective(
    "shipment_update",
    "Shipment update (WMS shipment → channel told)",
    300.0,
    0.99,
    "shipment.dispatched",
    "channel:",
)
REFUND_PROCESSING = Objective(
    "refund_processing",
    "Refund processed (refund → ERP credit memo)",
    900.0,
    0.99,
    "refund.recorded",
    "erp",
)

OBJECTIVES: tuple[Objective, ...] = (
    ORDER_ACKNOWLEDGMENT,
    INVENTORY_SYNC,
    SHIPMENT_UPDATE,
    REFUND_PROCESSING,
)

# An accepted order that is still not allocated (held, backordered, pending) after this
# long is "delayed": the dashboard lists it and the business alert counts it.
UNALLOCATED_AFTER_SECONDS = 4 * 3600.0


def journey_of(event_type: str, destination: str) -> Objective | None:
    """The objective a delivery of `event_type` to `destination` ends, if any."""
    for objective in OBJECTIVES:
        if objective.event_type != event_type or objective.destination is None:
            continue
        wanted = objective.destination
        if destination == wanted or (wanted.endswith(":") and destination.startswith(wanted)):
            return objective
    return None
