"""The fake Shopify Admin API over real HTTP: what it refuses as Shopify does, its Link
paging, and that its POSTs go through the simulators' pipeline (keys, faults, documents)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from simulators.app import init_sim_app
from tests.integration.test_simulators import ClientFactory, faults, key
from tests.shopify_docs import doc

pytestmark = pytest.mark.integration

Client = TestClient[Any, Any]
ADMIN = "/channels/acme/admin/api/2024-10"
ORDER = 5820334194882


def plain(**changes: Any) -> dict[str, Any]:
    order: dict[str, Any] = json.loads(json.dumps(doc("orders_create"), default=float))
    return {**order, **changes}


@pytest.fixture
async def sim(aiohttp_client: ClientFactory) -> Client:
    client = await aiohttp_client(init_sim_app(seed=1))
    response = await client.post("/_sim/channels/acme/shopify", json={"orders": [plain()]})
    assert response.status == 200, await response.text()
    return client


async def fulfillment_order(sim: Client) -> dict[str, Any]:
    response = await sim.get(f"{ADMIN}/orders/{ORDER}/fulfillment_orders.json")
    (fo,) = (await response.json())["fulfillment_orders"]
    return dict(fo)


async def fulfil(sim: Client, fo: dict[str, Any], quantity: int, call: str) -> Any:
    line = fo["line_items"][0]
    body = {
        "fulfillment": {
            "line_items_by_fulfillment_order": [
                {
                    "fulfillment_order_id": fo["id"],
                    "fulfillment_order_line_items": [{"id": line["id"], "quantity": quantity}],
                }
            ],
            "tracking_info": {"company": "UPS", "number": "1Z1"},
        }
    }
    return await sim.post(f"{ADMIN}/fulfillments.json", json=body, headers=key(call))


async def test_an_order_gets_one_open_fulfillment_order_of_its_line_items(sim: Client) -> None:
    fo = await fulfillment_order(sim)

    assert (fo["order_id"], fo["status"]) == (ORDER, "open")
    assert [(li["line_item_id"], li["fulfillable_quantity"]) for li in fo["line_items"]] == [
        (13498231783618, 2),
        (13498231816386, 1),
    ]


async def test_more_than_is_fulfillable_is_refused_and_changes_nothing(sim: Client) -> None:
    fo = await fulfillment_order(sim)

    too_much = await fulfil(sim, fo, 3, "k-1")
    fitting = await fulfil(sim, fo, 2, "k-2")

    assert too_much.status == 422
    assert "more than is fulfillable" in (await too_much.json())["detail"]
    assert fitting.status == 201
    assert (await fitting.json())["fulfillment"]["name"] == "#1001.1"
    assert (await fulfillment_order(sim))["line_items"][0]["fulfillable_quantity"] == 0


async def test_a_fulfillment_needs_an_idempotency_key_and_honours_it(sim: Client) -> None:
    fo = await fulfillment_order(sim)
    body = {"fulfillment": {"line_items_by_fulfillment_order": []}}

    unkeyed = await sim.post(f"{ADMIN}/fulfillments.json", json=body)
    first = await fulfil(sim, fo, 1, "k-1")
    again = await fulfil(sim, fo, 1, "k-1")

    assert unkeyed.status == 400
    assert (first.status, again.status) == (201, 201)
    assert await first.json() == await again.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    seen = await (await sim.get("/_sim/channels/documents?type=shopify.fulfillment")).json()
    assert (seen["count"], seen["duplicates"]) == (1, 1)


async def test_a_shop_that_is_down_refuses_reads_and_writes(sim: Client) -> None:
    await faults(sim, "channels", down_for_s=30)

    read = await sim.get(f"{ADMIN}/orders.json")
    write = await sim.post(
        f"{ADMIN}/inventory_levels/set.json",
        json={"location_id": 1, "inventory_item_id": 2, "available": 3},
        headers=key("k-1"),
    )

    assert (read.status, write.status) == (503, 503)


async def test_page_info_admits_no_other_filter(sim: Client) -> None:
    response = await sim.get(f"{ADMIN}/orders.json", params={"page_info": "x", "status": "any"})

    assert response.status == 400


async def test_pages_link_to_the_next_and_the_previous(sim: Client) -> None:
    orders = [plain(id=ORDER + n, updated_at=f"2026-12-01T10:00:0{n}Z") for n in range(1, 6)]
    await sim.post("/_sim/channels/acme/shopify", json={"orders": orders})

    first = await sim.get(f"{ADMIN}/orders.json", params={"limit": "2", "status": "any"})
    next_url = first.links["next"]["url"]
    second = await sim.get(next_url.path_qs)

    assert [o["id"] for o in (await first.json())["orders"]] == [ORDER, ORDER + 1]
    assert "previous" not in first.links
    assert set(next_url.query) == {"limit", "page_info"}
    assert [o["id"] for o in (await second.json())["orders"]] == [ORDER + 2, ORDER + 3]
    back = await sim.get(second.links["previous"]["url"].path_qs)
    assert [o["id"] for o in (await back.json())["orders"]] == [ORDER, ORDER + 1]


async def test_an_unknown_order_is_not_found_and_cannot_be_cancelled(sim: Client) -> None:
    missing = await sim.get(f"{ADMIN}/orders/1.json")
    cancel = await sim.post(f"{ADMIN}/orders/1/cancel.json", json={}, headers=key("k-1"))

    assert missing.status == 404
    assert cancel.status == 422


async def test_a_bad_shop_state_is_refused_whole(sim: Client) -> None:
    response = await sim.post(
        "/_sim/channels/acme/shopify", json={"orders": [plain(), {"id": "x", "line_items": []}]}
    )

    assert response.status == 400
    listed = await sim.get(f"{ADMIN}/orders.json", params={"status": "any"})
    assert len((await listed.json())["orders"]) == 1
