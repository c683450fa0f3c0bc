"""The simulators' read APIs over real HTTP: the ERP's sales orders (status, invoices,
duplicates) and its tampering, a channel's orders put behind ordersync's back, paging."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from simulators.app import init_sim_app
from tests.factories import order_doc
from tests.integration.test_simulators import ClientFactory, faults, key, sales_order

pytestmark = pytest.mark.integration

Client = TestClient[Any, Any]


@pytest.fixture
async def sim(aiohttp_client: ClientFactory) -> Client:
    return await aiohttp_client(init_sim_app(seed=1))


async def listed(sim: Client, path: str, **query: str) -> dict[str, Any]:
    response = await sim.get(path, params=query)
    assert response.status == 200, await response.text()
    return dict(await response.json())


async def tamper(sim: Client, change: dict[str, Any], expect: int = 200) -> dict[str, Any]:
    response = await sim.post("/_sim/erp/tamper", json=change)
    assert response.status == expect, await response.text()
    return dict(await response.json())


async def invoice(sim: Client, ref: str, quantity: int, tracking: str, call: str) -> None:
    doc = {
        "order_ref": ref,
        "shipment": {"location": "WH-EAST", "carrier": "DHL", "tracking_number": tracking},
        "lines": [{"sku": "TEE-M-BLK", "quantity": quantity}],
    }
    response = await sim.post("/erp/invoices", json=doc, headers=key(call))
    assert response.status == 201, await response.text()


async def test_a_sales_order_is_open_until_its_invoices_cover_it(sim: Client) -> None:
    await sim.post("/erp/sales-orders", json=sales_order("o-1"), headers=key("k-1"))
    opened = (await listed(sim, "/erp/sales-orders"))["items"]
    await invoice(sim, "o-1", 1, "JD1", "k-2")
    part = (await listed(sim, "/erp/sales-orders"))["items"]
    await invoice(sim, "o-1", 1, "JD2", "k-3")
    (full,) = (await listed(sim, "/erp/sales-orders"))["items"]

    assert [o["status"] for o in opened + part] == ["open", "open"]
    assert full["status"] == "invoiced"
    assert full["order_ref"] == "o-1" and full["document_number"] == "SO-000001"
    assert full["totals"] == {"grand_total": "54.98"}
    # The line's tax 9.15 over its two units by largest remainder: 4.58 + 4.57, so the
    # invoices add up to the line (no shipping in this sales order).
    assert [(i["tracking_number"], i["total"]) for i in full["invoices"]] == [
        ("JD1", "24.48"),
        ("JD2", "24.47"),
    ]
    assert (full["duplicates"], full["duplicate_document_numbers"]) == (0, [])


async def test_the_sales_orders_are_paged_and_filtered_by_when_they_changed(sim: Client) -> None:
    for number in range(5):
        ref = f"o-{number}"
        await sim.post("/erp/sales-orders", json=sales_order(ref), headers=key(f"k-{number}"))
    first = await listed(sim, "/erp/sales-orders", limit="2")
    second = await listed(sim, "/erp/sales-orders", limit="2", cursor=first["next_cursor"])
    third = await listed(sim, "/erp/sales-orders", limit="2", cursor=second["next_cursor"])
    pages = [first, second, third]
    changed = await tamper(sim, {"order_ref": "o-1", "status": "cancelled"})
    later = (await listed(sim, "/erp/sales-orders"))["items"][1]["updated_at"]
    since_then = await listed(sim, "/erp/sales-orders", since=later)

    assert [[o["order_ref"] for o in p["items"]] for p in pages] == [
        ["o-0", "o-1"],
        ["o-2", "o-3"],
        ["o-4"],
    ]
    assert third["next_cursor"] is None
    assert changed["status"] == "cancelled"
    assert [o["order_ref"] for o in since_then["items"]] == ["o-1"]


@pytest.mark.parametrize(
    "query",
    [{"cursor": "abc"}, {"limit": "0"}, {"limit": "1001"}, {"since": "yesterday"}],
    ids=["cursor", "limit-0", "limit-too-big", "since"],
)
async def test_a_bad_read_query_is_a_400_that_names_it(sim: Client, query: dict[str, str]) -> None:
    response = await sim.get("/erp/sales-orders", params=query)
    assert response.status == 400
    assert next(iter(query)) in (await response.json())["detail"]


async def test_a_read_while_the_erp_is_down_is_a_503_with_retry_after(sim: Client) -> None:
    await faults(sim, "erp", down_for_s=30)
    response = await sim.get("/erp/sales-orders")
    assert response.status == 503 and int(response.headers["Retry-After"]) > 0


async def test_tampering_seeds_each_discrepancy(sim: Client) -> None:
    for number in range(4):
        ref = f"o-{number}"
        await sim.post("/erp/sales-orders", json=sales_order(ref), headers=key(f"k-{number}"))
    await invoice(sim, "o-0", 1, "JD1", "k-i")

    deleted = await tamper(sim, {"order_ref": "o-0", "delete": True})
    await tamper(sim, {"order_ref": "o-1", "grand_total": "1.00"})
    await tamper(sim, {"order_ref": "o-2", "status": "cancelled"})
    duplicated = await tamper(sim, {"order_ref": "o-3", "duplicate": True})
    held = {o["order_ref"]: o for o in (await listed(sim, "/erp/sales-orders"))["items"]}

    assert deleted == {"order_ref": "o-0", "deleted": True}
    assert sorted(held) == ["o-1", "o-2", "o-3"]
    assert (await listed(sim, "/_sim/erp/state"))["invoices"] == []  # gone with o-0
    assert held["o-1"]["totals"]["grand_total"] == "1.00"
    assert held["o-2"]["status"] == "cancelled"
    assert duplicated["duplicate_document_numbers"] == ["SO-000005"]
    assert (held["o-3"]["duplicates"], held["o-3"]["document_number"]) == (1, "SO-000004")


async def test_a_sales_order_posted_again_takes_its_totals_and_status_back(sim: Client) -> None:
    await sim.post("/erp/sales-orders", json=sales_order("o-1"), headers=key("k-1"))
    await tamper(sim, {"order_ref": "o-1", "grand_total": "1.00", "status": "cancelled"})
    again = await sim.post("/erp/sales-orders", json=sales_order("o-1"), headers=key("k-2"))
    (order,) = (await listed(sim, "/erp/sales-orders"))["items"]
    assert again.status == 200
    assert (order["totals"]["grand_total"], order["status"]) == ("54.98", "open")


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"order_ref": "o-404", "delete": True}, 404),
        ({"order_ref": "o-1"}, 400),
        ({"order_ref": "o-1", "delete": True, "status": "open"}, 400),
        ({"order_ref": "o-1", "status": "lost"}, 400),
        ({"order_ref": "o-1", "grand_total": "a lot", "status": "open"}, 400),
        ({"order_ref": "o-1", "duplicate": "yes"}, 400),
        ({"order_ref": "o-1", "colour": "red"}, 400),
    ],
    ids=["unknown", "nothing", "delete-and-more", "status", "amount", "duplicate", "field"],
)
async def test_bad_tampering_is_refused_and_changes_nothing(
    sim: Client, change: dict[str, Any], status: int
) -> None:
    await sim.post("/erp/sales-orders", json=sales_order("o-1"), headers=key("k-1"))
    before = await listed(sim, "/erp/sales-orders")
    answer = await tamper(sim, change, status)
    assert answer["detail"]
    assert await listed(sim, "/erp/sales-orders") == before


async def test_a_channel_lists_the_orders_put_into_it_to_the_second(sim: Client) -> None:
    put = await sim.post(
        "/_sim/channels/web/orders", json={"orders": [order_doc("W-1"), order_doc("W-2")]}
    )
    other = await sim.post("/_sim/channels/pos/orders", json={"orders": [order_doc("P-1")]})
    again = await sim.post(
        "/_sim/channels/web/orders",
        json={"orders": [order_doc("W-1")], "updated_at": "2030-01-01T10:00:00.750+01:00"},
    )
    assert put.status == other.status == again.status == 200
    stamped = (await put.json())["updated_at"]
    first = await listed(sim, "/channels/web/orders", limit="1")
    rest = await listed(sim, "/channels/web/orders", cursor=first["next_cursor"])
    since = await listed(sim, "/channels/web/orders", updated_since="2030-01-01T09:00:00Z")

    assert stamped.endswith("Z") and "." not in stamped  # one-second resolution
    items = first["items"] + rest["items"]
    assert [(i["order"]["external_id"], i["updated_at"]) for i in items] == [
        ("W-2", stamped),
        ("W-1", "2030-01-01T09:00:00Z"),  # put again: changed, at the end of the list
    ]
    assert items[1]["order"] == order_doc("W-1")
    assert [i["order"]["external_id"] for i in since["items"]] == ["W-1"]


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"orders": []},
        {"orders": [{"lines": []}]},
        {"orders": [order_doc("W-1"), "W-2"]},
        {"orders": [order_doc("W-1")], "updated_at": "soon"},
        {"orders": [order_doc("W-1")], "shop": "x"},
    ],
    ids=["not-an-object", "none", "no-external-id", "not-an-order", "updated-at", "field"],
)
async def test_bad_channel_orders_are_refused_and_store_nothing(sim: Client, body: Any) -> None:
    response = await sim.post("/_sim/channels/web/orders", json=body)
    assert response.status == 400
    assert (await response.json())["detail"]
    assert (await listed(sim, "/channels/web/orders"))["items"] == []
