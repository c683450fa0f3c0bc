"""Orders with money over HTTP, for the payment, refund and race tests, and the money
invariant read back from PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from adapters.db.finance_repository import SqlFinanceRepository
from adapters.db.order_repository import SqlOrderRepository
from domain.money_check import outstanding, violations
from tests.factories import order_doc
from tests.integration.conftest import Keys, stock


async def placed(
    client: Any, keys: Keys, external_id: str, *, quantity: int = 3, status: str = "authorized"
) -> dict[str, Any]:
    """An order of `quantity` × A at 10.00 less 0.01, tax 6.91 (2.31, 2.30, 2.30 a unit),
    shipping 4.90 + 1.13, its payment `status`."""
    await stock(client, keys, {"sku": "A", "location": "WH-EAST", "set_on_hand": 100})
    doc = order_doc(external_id, [("A", quantity)])
    doc["lines"][0].update(discount="0.01", tax="6.91")
    total = f"{10 * quantity - 0.01 + 6.91 + 4.90 + 1.13:.2f}"
    doc["totals"] = {"grand_total": total}
    doc["payment"] = {"method": "card", "status": status, "amount": total}
    response = await client.post("/v1/orders", json=doc, headers=Keys.bearer(keys.web))
    assert response.status == 201, await response.text()
    return dict(await response.json())


async def shipped(client: Any, keys: Keys, order_id: str, quantity: int, tracking: str) -> str:
    body = {
        "order_id": order_id,
        "location": "WH-EAST",
        "carrier": "DHL",
        "tracking_number": tracking,
        "lines": [{"sku": "A", "quantity": quantity}],
    }
    response = await client.post("/v1/shipments", json=body, headers=Keys.bearer(keys.erp))
    assert response.status == 201, await response.text()
    return str((await response.json())["id"])


async def post(client: Any, path: str, key: str, **body: Any) -> tuple[int, dict[str, Any]]:
    response = await client.post(path, json=body, headers=Keys.bearer(key))
    return response.status, dict(await response.json())


async def money(client: Any, keys: Keys, order_id: str) -> dict[str, str]:
    response = await client.get(f"/v1/orders/{order_id}", headers=Keys.bearer(keys.erp))
    return dict((await response.json())["money"])


def broken(engine: sa.Engine, order_id: str) -> list[str]:
    """The money invariant's violations for what PostgreSQL holds of the order."""
    with engine.connect() as conn:
        order = SqlOrderRepository(conn).get(uuid.UUID(order_id))
        assert order is not None
        finance = SqlFinanceRepository(conn)
        return violations(order, finance.documents(order.id), finance.payments(order.id))


def unpaid(engine: sa.Engine, order_id: str) -> int:
    """The order's outstanding: invoiced and not yet captured, in minor units."""
    with engine.connect() as conn:
        finance = SqlFinanceRepository(conn)
        return outstanding(
            finance.documents(uuid.UUID(order_id)), finance.payments(uuid.UUID(order_id))
        )


def counts(engine: sa.Engine) -> dict[str, int]:
    """Rows of every table a payment or refund writes to."""
    tables = ("payments", "refunds", "financial_documents", "order_changes", "outbox_events")
    with engine.connect() as conn:
        return {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one() for t in tables}
