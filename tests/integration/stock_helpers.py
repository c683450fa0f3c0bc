"""What the returns, backorder and safety-stock tests share: orders placed at a given
time, shipped in full, and the rows a request may have written."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from tests.db_state import every_row
from tests.factories import order_doc
from tests.integration.conftest import Keys

# The lifecycle tables these requests write, beside the core ones of tests/db_state.py.
LIFECYCLE_TABLES = ("returns", "order_changes", "safety_stock")


def written(engine: sa.Engine) -> dict[str, list[str]]:
    """Every row a request of these routes may write, as text."""
    rows = every_row(engine)
    with engine.connect() as conn:
        for table in LIFECYCLE_TABLES:
            rows[table] = list(
                conn.execute(sa.text(f"SELECT x::text FROM {table} x ORDER BY 1")).scalars()
            )
    return rows


async def place(
    client: Any, keys: Keys, external_id: str, lines: list[tuple[str, int]], placed_at: str
) -> dict[str, Any]:
    doc = order_doc(external_id, lines)
    doc["placed_at"] = placed_at
    response = await client.post("/v1/orders", json=doc, headers=Keys.bearer(keys.web))
    body = await response.json()
    assert response.status == 201, body
    return dict(body)


async def ship_all(client: Any, keys: Keys, order: dict[str, Any], tracking: str) -> None:
    """Ship each reservation of the order from its location."""
    by_location: dict[str, list[dict[str, Any]]] = {}
    for r in order["reservations"]:
        by_location.setdefault(r["location"], []).append(
            {"sku": r["sku"], "quantity": r["quantity"]}
        )
    for location, lines in sorted(by_location.items()):
        response = await client.post(
            "/v1/shipments",
            json={
                "order_id": order["id"],
                "location": location,
                "carrier": "DHL",
                "tracking_number": f"{tracking}-{location}",
                "lines": lines,
            },
            headers=Keys.bearer(keys.erp),
        )
        assert response.status == 201, await response.text()


def events(engine: sa.Engine, since: int = 0) -> list[dict[str, Any]]:
    """Outbox events after id `since`, each with its destinations."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT e.id, e.event_type, e.aggregate_id, e.aggregate_version, e.payload,"
                " array_agg(d.destination ORDER BY d.destination) AS destinations"
                " FROM outbox_events e JOIN outbox_deliveries d USING (event_id)"
                " WHERE e.id > :since GROUP BY e.id ORDER BY e.id"
            ),
            {"since": since},
        ).mappings()
        return [dict(row) for row in rows]


def last_event_id(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(sa.text("SELECT coalesce(max(id), 0) FROM outbox_events")).scalar_one()
        )
