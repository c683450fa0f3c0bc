"""A held order through the whole real stack: the operator's hold rule screens it, the ERP,
the CRM and the channel hear of it, the WMS receives nothing for it — while an order beside
it is fulfilled — until it is released; then the WMS receives its fulfillment order and
ships it. The CRM receives the customer's contact."""

from __future__ import annotations

import copy
import os
import subprocess
from typing import Any

import pytest

from tests.e2e.processes import CLI, wait_until
from tests.e2e.stack import Stack, stocked
from tests.factories import order_doc

pytestmark = pytest.mark.e2e


def ordersync(stack: Stack, *args: str) -> str:
    """`ordersync ARGS…` as an operator runs it, against the stack's database."""
    env = {**os.environ, **stack.env(), "ORDERSYNC_DATABASE_URL": stack.database_url}
    done = subprocess.run([CLI, *args], env=env, capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


def of_order(stack: Stack, system: str, order_id: str) -> list[dict[str, Any]]:
    return [
        d for d in stack.documents(system)["documents"] if d["body"].get("order_id") == order_id
    ]


def test_a_held_order_reaches_the_wms_only_once_released(stack: Stack) -> None:
    stack.up(ship_after=0.2)
    stocked(stack)
    assert "hold rule 1 added" in ordersync(
        stack, "hold-rule", "add", "--kind", "payment_not_authorized", "--channel", "web"
    )
    pending = copy.deepcopy(order_doc("HELD-1", [("A", 1)]))
    pending["payment"]["status"] = "pending"
    held = stack.order(pending)
    free = stack.order(order_doc("FREE-1", [("B", 1)]))
    assert (held["status"], free["status"]) == ("on_hold", "allocated")

    def heard_of_both() -> bool:
        # The order beside it went the whole way (the WMS received it and shipped it), and
        # the held one reached every other system: the WMS had every chance to hear of it.
        return (
            len(of_order(stack, "wms", free["id"])) == 1
            and stack.admin("GET", f"/v1/orders/{free['id']}").json()["status"] == "fulfilled"
            and [d["body"]["status"] for d in of_order(stack, "channels", held["id"])]
            == ["acknowledged", "on_hold"]
            and stack.settled()
        )

    wait_until(heard_of_both, 90, "the free order fulfilled and the held one delivered")
    assert of_order(stack, "wms", held["id"]) == []
    sales = [d for d in stack.documents("erp")["documents"] if d["type"] == "sales_order"]
    assert {d["body"]["order_ref"] for d in sales} == {held["id"], free["id"]}

    released = stack.admin("POST", f"/v1/orders/{held['id']}/release", json={"reason": "paid"})
    assert released.status_code == 200, released.text
    assert released.json()["status"] == "allocated"
    wait_until(
        lambda: (
            stack.admin("GET", f"/v1/orders/{held['id']}").json()["status"] == "fulfilled"
            and stack.settled()
        ),
        90,
        "the released order sent to the WMS, shipped and every delivery applied",
    )
    [fulfillment] = of_order(stack, "wms", held["id"])
    assert fulfillment["type"] == "fulfillment_order"
    assert fulfillment["body"]["lines"] == [{"line_no": 1, "sku": "A", "quantity": 1}]
    statuses = [d["body"]["status"] for d in of_order(stack, "channels", held["id"])]
    assert statuses == ["acknowledged", "on_hold", "released", "shipped"]

    contacts = [d["body"] for d in stack.documents("crm")["documents"] if d["type"] == "contact"]
    customer_id = held["customer_id"]
    assert free["customer_id"] == customer_id  # one e-mail: one customer
    [made] = [c for c in contacts if c.get("customer_id") == customer_id]
    assert (made["email"], made["name"], made["channel"]) == ("ana@example.com", "Ana Silva", "web")
    assert made["address"]["line1"] == "Rua Augusta 1"
    customer = stack.admin("GET", f"/v1/customers/{customer_id}").json()
    assert {o["external_id"] for o in customer["orders"]} == {"HELD-1", "FREE-1"}

    timeline = stack.admin("GET", f"/v1/orders/{held['id']}/timeline").json()["entries"]
    assert [e["command"] for e in timeline] == ["place", "release", "ship"]
    [allocated] = [e for e in timeline[1]["events"] if e["event_type"] == "order.allocated"]
    assert [(d["destination"], d["status"]) for d in allocated["deliveries"]] == [
        ("wms", "applied")
    ]
