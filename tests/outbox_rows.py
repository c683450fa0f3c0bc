"""Synthetic outbox rows, written through the real writer (fast: many events per transaction)."""

from __future__ import annotations

import json

import sqlalchemy as sa

from domain.events import (
    BackorderedLine,
    DomainEvent,
    OrderAllocated,
    OrderBackordered,
    ReservationOut,
)
from ops.wiring import ROUTING
from outbox.envelope import Envelope
from outbox.messages import build
from outbox.relay_queries import deliveries_with_events
from outbox.tables import deliveries_table
from outbox.writer import TraceContext, write_events

TRACE = TraceContext(
    correlation_id="corr-1",
    traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
)


SHIP_TO = {"name": "Ana Silva", "line1": "Rua Augusta 1", "city": "Lisboa", "country": "PT"}


def order_events(aggregate: str, count: int) -> list[DomainEvent]:
    """`count` events of one order aggregate, alternately allocated (→ wms) and
    backordered (→ wms and channel:web), with versions 1..count."""
    events = []
    common = {
        "order_id": aggregate,
        "channel": "web",
        "external_id": aggregate,
        "status": "allocated",
    }
    for version in range(1, count + 1):
        if version % 2:
            reservation = ReservationOut(line_no=1, sku="A", location="WH", quantity=version)
            payload = OrderAllocated(
                **common, reservations=[reservation], shipping_address=SHIP_TO, shipping=None
            )
        else:
            line = BackorderedLine(line_no=1, sku="A", quantity=version)
            payload = OrderBackordered(**common, lines=[line])
        events.append(DomainEvent(payload, version, "web"))
    return events


def write_orders(engine: sa.Engine, aggregates: int, events_each: int, *, prefix: str = "o") -> int:
    """Write events for `aggregates` orders, one transaction per order's event *step*, so
    commits of one aggregate interleave with others' as in production. Returns deliveries."""
    for version in range(events_each):
        for start in range(0, aggregates, 250):
            with engine.begin() as conn:
                batch = [
                    order_events(f"{prefix}-{i}", events_each)[version]
                    for i in range(start, min(start + 250, aggregates))
                ]
                write_events(conn, batch, TRACE, lambda: ["web"], routing=ROUTING)
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM outbox_deliveries")).scalar_one())


def envelopes(engine: sa.Engine, destination: str) -> list[Envelope]:
    """The envelopes of every delivery to `destination`, in id order, as the relay builds them."""
    query = (
        deliveries_with_events()
        .where(deliveries_table.c.destination == destination)
        .order_by(deliveries_table.c.id)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [Envelope.model_validate(json.loads(build(r).body)["args"][0]) for r in rows]
