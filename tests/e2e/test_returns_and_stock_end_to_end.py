"""Returns and stock figures through the whole real stack: API → outbox → relay → RabbitMQ
→ worker → simulators (which check what they receive and record it), the WMS shipping
back."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.processes import log_of, start, wait_until
from tests.e2e.stack import ADMIN, Stack
from tests.factories import order_doc

pytestmark = pytest.mark.e2e


def of_type(stack: Stack, system: str, kind: str) -> list[dict[str, Any]]:
    return [d for d in stack.documents(system)["documents"] if d["type"] == kind]


def order_now(stack: Stack, order_id: str) -> dict[str, Any]:
    return dict(stack.admin("GET", f"/v1/orders/{order_id}").json())


def test_return_with_restock_puts_stock_back_and_fills_a_backordered_order(stack: Stack) -> None:
    stack.up(ship_after=0.2)
    response = stack.admin(
        "POST",
        "/v1/inventory/adjustments",
        json={"adjustments": [{"sku": "RET", "location": "WH-EAST", "set_on_hand": 2}]},
    )
    assert response.status_code == 200, response.text
    sold = stack.order(order_doc("E2E-RET-1", [("RET", 2)]))
    wait_until(
        lambda: order_now(stack, sold["id"])["status"] == "fulfilled", 60, "the WMS to ship it"
    )
    waiting = stack.order(order_doc("E2E-RET-2", [("RET", 1)]))
    assert waiting["status"] == "backordered"

    # The customer sends one unit back (the channel opens the return)…
    headers = {"Authorization": f"Bearer {stack.channel_key}"}
    opened = httpx.post(
        f"{stack.api}/v1/orders/{sold['id']}/returns",
        json={"lines": [{"line_no": 1, "quantity": 1}], "reason": "wrong size"},
        headers=headers,
        timeout=10,
    )
    assert opened.status_code == 201, opened.text
    return_id = opened.json()["id"]
    wait_until(
        lambda: len(of_type(stack, "wms", "expected_return")) == 1, 60, "the WMS to expect it"
    )
    [expected] = of_type(stack, "wms", "expected_return")
    assert expected["body"]["return_id"] == return_id
    assert expected["body"]["lines"] == [{"line_no": 1, "sku": "RET", "quantity": 1}]

    # …and the WMS receives it in sellable condition.
    received = stack.admin(
        "POST",
        f"/v1/returns/{return_id}/receipts",
        json={
            "location": "WH-EAST",
            "lines": [{"line_no": 1, "quantity": 1, "disposition": "restock"}],
        },
    )
    assert received.status_code == 201, received.text

    def filled_and_told() -> bool:
        return any(
            d["body"]["order_id"] == waiting["id"]
            for d in of_type(stack, "wms", "fulfillment_order")
        )

    wait_until(filled_and_told, 60, "the WMS to get the filled order's fulfillment order")
    wait_until(
        lambda: order_now(stack, waiting["id"])["status"] == "fulfilled" and stack.settled(),
        90,
        "the filled order shipped and every delivery applied",
    )
    [fulfillment] = [
        d
        for d in of_type(stack, "wms", "fulfillment_order")
        if d["body"]["order_id"] == waiting["id"]
    ]
    assert fulfillment["body"]["location"] == "WH-EAST"
    assert fulfillment["body"]["lines"] == [{"line_no": 1, "sku": "RET", "quantity": 1}]
    # The unit came back and went out again: nothing on hand, nothing reserved.
    assert stack.admin("GET", "/v1/inventory/RET").json()["locations"] == [
        {"location": "WH-EAST", "on_hand": 0, "reserved": 0, "atp": 0}
    ]
    # The channel saw its return open, then received (restocked), each once.
    returns = [d["body"] for d in of_type(stack, "channels", "return")]
    assert [(r["return_id"], r["status"]) for r in returns] == [
        (return_id, "open"),
        (return_id, "received"),
    ]
    assert returns[1]["lines"] == [
        {"line_no": 1, "sku": "RET", "quantity": 1, "disposition": "restock"}
    ]
    for system in ("wms", "channels"):
        assert stack.documents(system)["duplicates"] == 0


def test_a_burst_of_stock_changes_reaches_a_paused_channel_as_a_handful_the_last_right(
    stack: Stack,
) -> None:
    """1,000 adjustments of one SKU while the channel's destination is paused; resumed, it
    gets a handful of stock updates (the older figures superseded), the last being its
    sellable figure: the final ATP less its safety stock, not on_hand."""
    stack.up(ship_after=None)
    first = stack.admin(
        "POST",
        "/v1/inventory/adjustments",
        json={"adjustments": [{"sku": "BURST", "location": "WH-EAST", "set_on_hand": 0}]},
    )
    assert first.status_code == 200, first.text
    safety = stack.admin(
        "PUT",
        "/v1/inventory/safety-stock",
        json={"channel": "web", "location": "WH-EAST", "quantity": 5},
    )
    assert safety.status_code == 200, safety.text
    paused = start("destination", "pause", "channel:web", database_url=stack.database_url)
    assert paused.wait(60) == 0, log_of(paused)

    headers = {"Authorization": f"Bearer {ADMIN}"}
    with httpx.Client(base_url=stack.api, headers=headers, timeout=10) as api:
        for units in range(1, 1001):
            body = {"adjustments": [{"sku": "BURST", "location": "WH-EAST", "set_on_hand": units}]}
            response = api.post("/v1/inventory/adjustments", json=body)
            assert response.status_code == 200, response.text

    def all_held() -> bool:
        # Every figure reached the worker and waits (or parks behind one that waits).
        statuses = stack.statuses()
        held = statuses.get("waiting", 0) + statuses.get("parked", 0)
        return held == 1000 and not statuses.get("pending") and not statuses.get("published")

    wait_until(all_held, 180, "the burst to wait for the paused channel")
    assert [d for d in of_type(stack, "channels", "inventory") if d["body"]["sku"] == "BURST"] == []

    resumed = start("destination", "resume", "channel:web", database_url=stack.database_url)
    assert resumed.wait(60) == 0, log_of(resumed)
    wait_until(stack.settled, 120, "every delivery applied or superseded")

    figures = [
        d["body"]["available"]
        for d in of_type(stack, "channels", "inventory")
        if d["body"]["sku"] == "BURST"
    ]
    assert 1 <= len(figures) <= 5, figures
    assert figures[-1] == 1000 - 5  # sellable, not the 1,000 on hand
    assert stack.admin("GET", "/v1/inventory/BURST").json()["atp"] == 1000
