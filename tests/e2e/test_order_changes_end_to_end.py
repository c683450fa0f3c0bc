"""A cancellation after a partial shipment, through the whole real stack: API → outbox →
relay → RabbitMQ → worker → simulators, the WMS shipping back from one location only."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.e2e.processes import wait_until
from tests.e2e.stack import Stack
from tests.factories import order_doc

pytestmark = pytest.mark.e2e


def documents_of(stack: Stack, system: str, order_id: str, field: str) -> list[dict[str, Any]]:
    """The system's documents about one order, as received."""
    return [d for d in stack.documents(system)["documents"] if d["body"].get(field) == order_id]


def state(stack: Stack, system: str) -> dict[str, Any]:
    return dict(httpx.get(f"{stack.sim}/_sim/{system}/state", timeout=5).json())


def test_cancel_after_a_partial_shipment_invoices_the_shipped_part_and_cancels_the_rest(
    stack: Stack,
) -> None:
    stack.up(ship_after=0.2)
    stack.faults("wms", ship_locations=["WH-EAST"])  # WH-WEST's warehouse is slower
    stocked = stack.admin(
        "POST",
        "/v1/inventory/adjustments",
        json={
            "adjustments": [
                {"sku": "A", "location": "WH-EAST", "set_on_hand": 10},
                {"sku": "B", "location": "WH-WEST", "set_on_hand": 10},
            ]
        },
    )
    assert stocked.status_code == 200, stocked.text
    order = stack.order(order_doc("E2E-CANCEL-1", [("A", 2), ("B", 1)]))
    assert sorted((r["sku"], r["location"]) for r in order["reservations"]) == [
        ("A", "WH-EAST"),
        ("B", "WH-WEST"),
    ]
    order_id = order["id"]

    def shipped_and_invoiced() -> bool:
        current = stack.admin("GET", f"/v1/orders/{order_id}").json()
        invoices = documents_of(stack, "erp", order_id, "order_ref")
        return current["status"] == "partially_fulfilled" and any(
            d["type"] == "invoice" for d in invoices
        )

    wait_until(shipped_and_invoiced, 60, "WH-EAST shipped and the ERP invoiced it")

    headers = {"Authorization": f"Bearer {stack.channel_key}"}
    response = httpx.post(
        f"{stack.api}/v1/orders/{order_id}/cancel",
        json={"reason": "the rest is no longer wanted"},
        headers=headers,
        timeout=10,
    )
    assert response.status_code == 200, response.text
    cancelled = response.json()
    assert cancelled["status"] == "fulfilled"
    assert [(ln["sku"], ln["shipped"], ln["cancelled"]) for ln in cancelled["lines"]] == [
        ("A", 2, 0),
        ("B", 0, 1),
    ]
    wait_until(stack.settled, 60, "every delivery applied")

    # The ERP: the sales order, the invoice of the shipped part, the cancellation of the
    # rest — each once, in that order; the sales order now holds the shipped part only,
    # invoiced in full.
    erp = documents_of(stack, "erp", order_id, "order_ref")
    assert [d["type"] for d in erp] == ["sales_order", "invoice", "sales_order_cancellation"]
    assert all(d["duplicates"] == 0 for d in erp)
    assert [(ln["sku"], ln["quantity"]) for ln in erp[1]["body"]["lines"]] == [("A", 2)]
    cancellation = erp[2]["body"]
    assert (cancellation["whole"], cancellation["reason"]) == (
        False,
        "the rest is no longer wanted",
    )
    assert [(ln["sku"], ln["quantity"], ln["net"]) for ln in cancellation["lines"]] == [
        ("B", 1, "10.00")
    ]
    [sales_order] = [
        so for so in state(stack, "erp")["sales_orders"] if so["order_ref"] == order_id
    ]
    assert sales_order["status"] == "invoiced"
    assert [(ln["sku"], ln["quantity"]) for ln in sales_order["order"]["lines"]] == [("A", 2)]
    assert sales_order["order"]["totals"]["grand_total"] == cancelled["totals"]["grand_total"]
    assert cancelled["totals"]["grand_total"] == "26.03"  # 2 × 10.00 + shipping 4.90 + 1.13

    # The WMS: one fulfillment order per location, then the cancellation of what is open.
    wms = documents_of(stack, "wms", order_id, "order_id")
    assert [(d["type"], d["body"].get("location")) for d in wms] == [
        ("fulfillment_order", "WH-EAST"),
        ("fulfillment_order", "WH-WEST"),
        ("cancellation", None),
    ]
    assert wms[2]["body"]["reason"] == "the rest of the order was cancelled"
    held = {fo["location"]: fo["status"] for fo in state(stack, "wms")["fulfillment_orders"]}
    assert held == {"WH-EAST": "shipped", "WH-WEST": "cancelled"}

    # The channel: acknowledged, shipped, then the rest cancelled, with its line.
    channel = documents_of(stack, "channels", order_id, "order_id")
    assert [d["body"]["status"] for d in channel] == [
        "acknowledged",
        "shipped",
        "partially_cancelled",
    ]
    assert channel[2]["body"]["lines"] == [{"line_no": 2, "sku": "B", "quantity": 1}]

    # B's stock is back on sale at WH-WEST, and every channel was told.
    assert stack.admin("GET", "/v1/inventory/B").json()["atp"] == 10
    figures = [
        d["body"]["available"]
        for d in stack.documents("channels")["documents"]
        if d["type"] == "inventory" and d["body"]["sku"] == "B"
    ]
    assert figures[-1] == 10
    with stack.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM dead_letters")).scalar_one() == 0
