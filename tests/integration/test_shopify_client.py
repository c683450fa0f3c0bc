"""The Shopify client against the simulator's fake Admin API on a real port: fulfillments
and stock levels in Shopify's shapes, idempotent retries, cancellations, the orders list
followed through every Link page, a refund's lines numbered from the order it reads."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from adapters.channels import CHANNELS, shopify
from adapters.channels.shopify_client import NOT_SENT, ShopifyClient
from adapters.channels.webhook import Receipt
from adapters.systems.errors import PermanentError
from domain.channel_commands import ChannelRefund
from domain.events import (
    AmountLine,
    InventoryChanged,
    LocationStock,
    OrderCancelled,
    ShipmentDispatched,
    ShippedLineOut,
)
from simulators.app import init_sim_app
from simulators.server import ServerThread
from tests.shopify_docs import delivery, doc, raw

pytestmark = pytest.mark.integration

PLAIN = 5820334194882
LOCATION = 71983808706
TEE_ITEM = 45501223997634  # the tee's inventory item in the fake shop


class Sim:
    def __init__(self, url: str) -> None:
        self.url = url

    def shop(self, **state: Any) -> None:
        response = httpx.post(f"{self.url}/_sim/channels/acme/shopify", json=state)
        assert response.status_code == 200, response.text

    def documents(self, doc_type: str) -> dict[str, Any]:
        reply = httpx.get(f"{self.url}/_sim/channels/documents", params={"type": doc_type})
        return dict(reply.json())

    def fulfillment_orders(self, order_id: int) -> list[dict[str, Any]]:
        path = f"/channels/acme/admin/api/2024-10/orders/{order_id}/fulfillment_orders.json"
        return list(httpx.get(self.url + path).json()["fulfillment_orders"])


@pytest.fixture
def sim() -> Iterator[Sim]:
    with ServerThread(init_sim_app(seed=1)) as server:
        sim = Sim(server.url)
        plain = doc("orders_create")
        sim.shop(
            orders=[_jsonable(plain)],
            variants=[{"sku": "TEE-M-BLK", "inventory_item_id": TEE_ITEM}],
            primary_location_id=LOCATION,
        )
        yield sim


@pytest.fixture
def client(sim: Sim) -> Iterator[ShopifyClient]:
    factory = CHANNELS["shopify"].client
    with factory(
        f"{sim.url}/channels/acme",
        channel="acme",
        read_timeout_s=2.0,
        credentials={"access_token": "shpat_test"},
    ) as made:
        assert isinstance(made, ShopifyClient)
        yield made


def _jsonable(value: Any) -> Any:
    """A fixture as plain JSON (Decimal rates as numbers, as Shopify sends them)."""
    return json.loads(json.dumps(value, default=float))


def shipment(*lines: tuple[int, int], tracking: str = "JD0001") -> ShipmentDispatched:
    return ShipmentDispatched(
        order_id=str(uuid.UUID(int=1)),
        channel="acme",
        external_id=str(PLAIN),
        status="fulfilled",
        shipment_id="s-1",
        location="WH-EAST",
        carrier="DHL",
        tracking_number=tracking,
        lines=[
            ShippedLineOut(line_no=n, sku="TEE-M-BLK" if n == 1 else "MUG-WHT", quantity=q)
            for n, q in lines
        ],
        currency="USD",
        shipped_value="56.13",
    )


def stock(sku: str = "TEE-M-BLK", sellable: int = 9) -> InventoryChanged:
    return InventoryChanged(
        sku=sku,
        atp=12,
        locations=[LocationStock(location="WH-EAST", on_hand=12, reserved=0, atp=12)],
        sellable={"acme": sellable},
    )


def cancellation(whole: bool = True) -> OrderCancelled:
    return OrderCancelled(
        order_id=str(uuid.UUID(int=1)),
        channel="acme",
        external_id=str(PLAIN),
        status="cancelled",
        whole=whole,
        reason="customer asked",
        currency="USD",
        lines=[
            AmountLine(
                line_no=1, sku="TEE-M-BLK", quantity=2, net="35.82", discount="3.98", tax="2.87"
            )
        ],
        totals={"grand_total": "56.13"},
    )


def test_a_shipment_becomes_a_fulfillment_of_the_orders_fulfillment_order(
    sim: Sim, client: ShopifyClient
) -> None:
    (fo,) = sim.fulfillment_orders(PLAIN)
    tee, mug = fo["line_items"]

    made = client.shipped(shipment((1, 2), (2, 1)), idempotency_key="k-ship")

    (document,) = sim.documents("shopify.fulfillment")["documents"]
    assert document["idempotency_key"] == "k-ship"
    assert document["channel"] == "acme"
    assert document["body"] == {
        "fulfillment": {
            "line_items_by_fulfillment_order": [
                {
                    "fulfillment_order_id": fo["id"],
                    "fulfillment_order_line_items": [
                        {"id": tee["id"], "quantity": 2},
                        {"id": mug["id"], "quantity": 1},
                    ],
                }
            ],
            "tracking_info": {"company": "DHL", "number": "JD0001"},
            "notify_customer": False,
        }
    }
    assert made.isdigit()
    (after,) = sim.fulfillment_orders(PLAIN)
    assert after["status"] == "closed"
    assert [li["fulfillable_quantity"] for li in after["line_items"]] == [0, 0]


def test_a_retried_shipment_fulfils_once(sim: Sim, client: ShopifyClient) -> None:
    """The retry of a call whose reply was lost finds nothing left to fulfil: against the
    real Shopify (no Idempotency-Key there) as against the simulator."""
    first = client.shipped(shipment((1, 2)), idempotency_key="k-ship")
    again = client.shipped(shipment((1, 2)), idempotency_key="k-ship")
    rest = client.shipped(shipment((2, 1), tracking="JD0002"), idempotency_key="k-ship-2")

    assert first.isdigit() and again == NOT_SENT and rest.isdigit() and rest != first
    seen = sim.documents("shopify.fulfillment")
    assert (seen["count"], seen["duplicates"]) == (2, 0)
    quantities = [
        d["body"]["fulfillment"]["line_items_by_fulfillment_order"][0][
            "fulfillment_order_line_items"
        ][0]["quantity"]
        for d in seen["documents"]
    ]
    assert quantities == [2, 1]


def test_a_shipment_of_a_line_the_order_lacks_is_refused(client: ShopifyClient) -> None:
    with pytest.raises(PermanentError, match="line 3 is not a line of order"):
        client.shipped(shipment((3, 1)), idempotency_key="k-ship")


def test_a_stock_figure_is_set_at_the_shops_location_in_shopifys_shape(
    sim: Sim, client: ShopifyClient
) -> None:
    shown = client.update_stock(stock(sellable=9), idempotency_key="k-stock")
    again = client.update_stock(stock(sellable=9), idempotency_key="k-stock")

    assert shown == again == 9
    seen = sim.documents("shopify.inventory_level")
    assert (seen["count"], seen["duplicates"]) == (1, 1)  # the retry posted once
    (document,) = seen["documents"]
    assert document["body"] == {
        "location_id": LOCATION,
        "inventory_item_id": TEE_ITEM,
        "available": 9,
    }


def test_a_sku_the_shop_does_not_sell_is_sent_nowhere(sim: Sim, client: ShopifyClient) -> None:
    assert client.update_stock(stock("NOT-IN-SHOP"), idempotency_key="k-1") is None
    assert sim.documents("shopify.inventory_level")["count"] == 0


def test_every_variant_with_the_sku_is_set_and_the_credentials_may_name_the_location(
    sim: Sim,
) -> None:
    sim.shop(variants=[{"sku": "TEE-M-BLK", "inventory_item_id": 45501224030402}])
    credentials = {"access_token": "shpat_test", "location_id": "655441491"}
    with ShopifyClient(f"{sim.url}/channels/acme", channel="acme", credentials=credentials) as c:
        c.update_stock(stock(sellable=4), idempotency_key="k-stock")

    bodies = [d["body"] for d in sim.documents("shopify.inventory_level")["documents"]]
    assert sorted(b["inventory_item_id"] for b in bodies) == [TEE_ITEM, 45501224030402]
    assert {(b["location_id"], b["available"]) for b in bodies} == {(655441491, 4)}
    keys = {d["idempotency_key"] for d in sim.documents("shopify.inventory_level")["documents"]}
    assert len(keys) == 2 and "k-stock" not in keys  # one key per item, from the delivery's


def test_a_whole_cancellation_cancels_the_order_once(sim: Sim, client: ShopifyClient) -> None:
    assert client.cancelled(cancellation(), idempotency_key="k-cancel") == "cancelled"
    # Shopify's own cancellation echoing back (a new event): Shopify refuses, it is done.
    assert client.cancelled(cancellation(), idempotency_key="k-echo") == "cancelled"
    assert client.cancelled(cancellation(whole=False), idempotency_key="k-part") == NOT_SENT

    (document,) = sim.documents("shopify.order_cancel")["documents"]
    assert document["body"] == {"reason": "other", "email": False}
    (fo,) = sim.fulfillment_orders(PLAIN)
    assert fo["status"] == "cancelled"


def test_the_orders_list_follows_every_link_page(sim: Sim, client: ShopifyClient) -> None:
    orders = []
    for n in range(7):
        order = copy.deepcopy(doc("orders_create"))
        order["id"] = 9007199254740993 + 2 * n  # beyond 2^53: exact through every page
        order["updated_at"] = f"2026-12-01T10:00:0{n}-05:00"
        orders.append(_jsonable(order))
    old = _jsonable({**doc("orders_create"), "id": 42, "updated_at": "2026-11-01T10:00:00Z"})
    sim.shop(orders=[old, *orders])

    since = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
    listed = list(client.orders_since(since, page_size=3))

    assert [o.document["id"] for o in listed] == [o["id"] for o in orders]
    assert [o.updated_at.second for o in listed] == list(range(7))
    assert all(CHANNELS["shopify"].normalize(o.document).lines for o in listed)


def test_an_orders_list_at_a_wrong_address_is_a_permanent_error(sim: Sim) -> None:
    with pytest.raises(PermanentError, match="404"):
        list(ShopifyClient(f"{sim.url}/channels/acme/nowhere").orders_since(datetime.now(UTC)))


def test_a_refunds_lines_are_numbered_from_the_order_it_reads(client: ShopifyClient) -> None:
    request = delivery(raw("refunds_create_partial"), "refunds/create")

    (refund,) = shopify.interpret(Receipt("d", "refunds/create"), request, client)

    assert isinstance(refund, ChannelRefund)
    assert [(ln.line_no, ln.restock_location) for ln in refund.lines] == [
        (1, str(LOCATION)),
        (2, None),
    ]


def test_the_shop_is_probed_by_its_shop_resource(sim: Sim, client: ShopifyClient) -> None:
    """Shopify has no health route: the circuit breaker's probe reads shop.json."""
    assert client.probe() is True
    httpx.post(f"{sim.url}/_sim/channels/faults", json={"down_for_s": 30}).raise_for_status()
    assert client.probe() is False
