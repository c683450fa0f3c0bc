"""A database the dashboard has something exact to say about, seeded through the product's
own HTTP routes (orders, stock, a shipment) and then set, row by row, where the workers
would have left it: most deliveries applied, one order's deliveries still unpublished, a
dead letter made by the guard's own code path, a shipment update late for its SLO and an
unallocated order older than UNALLOCATED_AFTER_SECONDS.

Used over the in-process app (integration) and over a started `ordersync api` (e2e): the
caller hands in its base URL."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import sqlalchemy as sa

from adapters.db import registry
from domain.slo import SHIPMENT_UPDATE, UNALLOCATED_AFTER_SECONDS
from tests.dead_letters import kill_rejected
from tests.factories import order_doc
from tests.outbox_rows import envelopes

# SHOP-1's requests come with this W3C trace (as a traced channel's would): the API stores
# it on the order's outbox rows, and the order page shows its trace id.
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@dataclass
class Seeded:
    orders: dict[str, str]  # external id → order id
    # What the seed left unpublished, per destination (WEB-4's deliveries).
    unpublished: Counter[str] = field(default_factory=Counter)
    dead_letter_id: int = 0
    late_delivery_id: int = 0


def _ok(response: httpx.Response, *statuses: int) -> Any:
    assert response.status_code in (statuses or (200, 201)), response.text
    return response.json()


def seed(engine: sa.Engine, base_url: str, admin_token: str) -> Seeded:
    with engine.begin() as conn:
        web = registry.add_channel(conn, "web", "canonical", rate_limit_per_minute=0)
        shop = registry.add_channel(conn, "shop2", "canonical", rate_limit_per_minute=0)
        registry.add_location(conn, "WH-EAST", "warehouse", 10)
    admin = {"Authorization": f"Bearer {admin_token}"}
    with httpx.Client(base_url=base_url, timeout=30) as http:
        adjustments = [
            {"sku": "TEE", "location": "WH-EAST", "set_on_hand": 10, "reason": "count"},
            {"sku": "GONE", "location": "WH-EAST", "set_on_hand": 0, "reason": "count"},
        ]
        _ok(
            http.post("/v1/inventory/adjustments", json={"adjustments": adjustments}, headers=admin)
        )
        placed: dict[str, str] = {}
        for external_id, key, lines, currency in (
            ("WEB-1", web, [("TEE", 2)], "EUR"),  # 26.03, allocated
            ("WEB-2", web, [("TEE", 1)], "EUR"),  # 16.03, allocated; its wms delivery dies
            ("WEB-3", web, [("GONE", 1)], "EUR"),  # 16.03, backordered 5 hours ago: delayed
            ("WEB-4", web, [("GONE", 3)], "EUR"),  # 36.03, backordered just now; unpublished
            ("SHOP-1", shop, [("TEE", 2)], "USD"),  # 26.03, shipped; the channel not told
        ):
            doc = {**order_doc(external_id, lines), "currency": currency}
            body = _ok(
                http.post("/v1/orders", json=doc, headers={"Authorization": f"Bearer {key}"})
            )
            placed[external_id] = body["id"]
        shipment = {
            "order_id": placed["SHOP-1"],
            "location": "WH-EAST",
            "carrier": "DHL",
            "tracking_number": "JD0001",
            "lines": [{"sku": "TEE", "quantity": 2}],
        }
        _ok(
            http.post("/v1/shipments", json=shipment, headers={**admin, "traceparent": TRACEPARENT})
        )
    seeded = Seeded(placed)
    with engine.begin() as conn:
        _as_the_workers_left_it(conn, seeded)
    _kill_first_wms_delivery(engine, seeded)
    return seeded


def _as_the_workers_left_it(conn: sa.Connection, seeded: Seeded) -> None:
    run = conn.execute
    run(
        sa.text(
            "UPDATE outbox_deliveries SET published_at = created_at, status = 'applied',"
            " applied_at = created_at + interval '1 second'"
        )
    )
    # Inventory sync: one journey within its minute, one late; the rest superseded.
    stock = (
        run(
            sa.text(
                "SELECT d.id FROM outbox_deliveries d JOIN outbox_events e USING (event_id)"
                " WHERE e.event_type = 'inventory.changed' AND d.destination LIKE 'channel:%'"
                " ORDER BY d.id"
            )
        )
        .scalars()
        .all()
    )
    assert len(stock) >= 2, stock
    first, second, *rest = stock
    run(
        sa.text(
            "UPDATE outbox_deliveries SET applied_at = created_at + interval '5 seconds'"
            " WHERE id = :id"
        ),
        {"id": first},
    )
    run(
        sa.text(
            "UPDATE outbox_deliveries SET applied_at = created_at + interval '2 minutes'"
            " WHERE id = :id"
        ),
        {"id": second},
    )
    run(
        sa.text(
            "UPDATE outbox_deliveries SET status = 'superseded', applied_at = NULL"
            " WHERE id = ANY(:ids)"
        ),
        {"ids": rest},
    )
    # WEB-3 was accepted long enough ago to be delayed.
    run(
        sa.text("UPDATE orders SET created_at = now() - make_interval(secs => :s) WHERE id = :id"),
        {"s": UNALLOCATED_AFTER_SECONDS + 3600, "id": seeded.orders["WEB-3"]},
    )
    # SHOP-1's shipment reached its channel's queue twice the SLO ago, never applied.
    (late_id, event_id) = run(
        sa.text(
            "SELECT d.id, d.event_id FROM outbox_deliveries d JOIN outbox_events e USING"
            " (event_id) WHERE e.event_type = 'shipment.dispatched'"
            " AND d.destination = 'channel:shop2'"
        )
    ).one()
    seeded.late_delivery_id = late_id
    run(
        sa.text(
            "UPDATE outbox_deliveries SET status = 'published', applied_at = NULL WHERE id = :id"
        ),
        {"id": late_id},
    )
    run(
        sa.text(
            "UPDATE outbox_events SET created_at = now() - make_interval(secs => :s)"
            " WHERE event_id = :e"
        ),
        {"s": 2 * SHIPMENT_UPDATE.threshold_seconds, "e": event_id},
    )
    # WEB-4's deliveries are still waiting for the relay.
    unpublished = run(
        sa.text(
            "UPDATE outbox_deliveries SET published_at = NULL, status = 'pending',"
            " applied_at = NULL WHERE aggregate_type = 'order' AND aggregate_id = :a"
            " RETURNING destination"
        ),
        {"a": seeded.orders["WEB-4"]},
    ).scalars()
    seeded.unpublished = Counter(unpublished)
    assert seeded.unpublished, "WEB-4 has no deliveries to hold back"


def _kill_first_wms_delivery(engine: sa.Engine, seeded: Seeded) -> None:
    """WEB-2's first message to the WMS, rejected by it (HTTP 422): a dead letter."""
    order = seeded.orders["WEB-2"]
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE outbox_deliveries SET status = 'published', applied_at = NULL"
                " WHERE destination = 'wms' AND aggregate_id = :a AND sequence = 1"
            ),
            {"a": order},
        )
    (first,) = [e for e in envelopes(engine, "wms") if e.aggregate_id == order and e.sequence == 1]
    kill_rejected(engine, first)
    with engine.connect() as conn:
        seeded.dead_letter_id = conn.execute(
            sa.text("SELECT id FROM dead_letters WHERE aggregate_id = :a"), {"a": order}
        ).scalar_one()
