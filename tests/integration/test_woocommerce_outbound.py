"""The WooCommerce kind's outbound side against the simulated site on a real port: each
event type through the kind's handler table, in WooCommerce's own API shapes, recorded by
the simulator as /_sim/channels/documents shows them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from adapters.channels import woocommerce as wc
from adapters.systems.errors import PermanentError, TransientError
from adapters.systems.handlers import dispatch
from domain.events import (
    AmountLine,
    BackorderedLine,
    EventPayload,
    InventoryChanged,
    OrderAccepted,
    OrderBackordered,
    OrderCancelled,
    RefundRecorded,
    ShipmentDispatched,
    ShippedLineOut,
)
from outbox.envelope import Envelope
from simulators.app import init_sim_app
from simulators.server import ServerThread
from tests.factories import CONTRACT_ORDER

pytestmark = pytest.mark.integration
COMMON = {"order_id": str(uuid.UUID(int=7)), "channel": "woo", "external_id": "4127"}


@pytest.fixture
def site() -> Iterator[str]:
    with ServerThread(init_sim_app(seed=1)) as server:
        yield server.url


@pytest.fixture
def client(site: str) -> Iterator[wc.WooCommerceClient]:
    credentials = {"consumer_key": "ck_test", "consumer_secret": "cs_test"}
    with wc.WooCommerceClient(
        f"{site}/channels/woo", channel="woo", read_timeout_s=2.0, credentials=credentials
    ) as made:
        yield made


def send(client: wc.WooCommerceClient, payload: EventPayload) -> object:
    envelope = Envelope(
        event_id=uuid.uuid4(),
        event_type=payload.event_type,
        event_version=1,
        aggregate_type=payload.aggregate_type,
        aggregate_id=payload.aggregate_id(),
        aggregate_version=1,
        destination="channel:woo",
        sequence=1,
        generation=0,
        occurred_at=datetime.now(UTC),
        correlation_id=None,
        causation_id=None,
        channel="woo",
        payload=payload.model_dump(mode="json"),
    )
    return dispatch(wc.KIND.handlers, client, envelope)


def documents(site: str, kind: str | None = None) -> list[dict[str, Any]]:
    query = f"?type={kind}" if kind else ""
    found = httpx.get(f"{site}/_sim/channels/documents{query}").json()
    return list(found["documents"])


def shipment(status: str, tracking: str = "JD0001") -> ShipmentDispatched:
    return ShipmentDispatched(
        **COMMON,
        status=status,
        shipment_id=str(uuid.uuid4()),
        location="WH-EAST",
        carrier="DHL",
        tracking_number=tracking,
        lines=[ShippedLineOut(line_no=1, sku="TEE-M-BLK", quantity=2)],
        currency="EUR",
        shipped_value="44.06",
    )


def test_a_shipment_updates_the_order_with_its_tracking_and_completes_it_when_all_shipped(
    client: wc.WooCommerceClient, site: str
) -> None:
    assert send(client, shipment("partially_fulfilled", "JD0001")) == "processing"
    assert send(client, shipment("fulfilled", "JD0002")) == "completed"
    updates = documents(site, "wc_order_update")
    assert [d["body"].get("status") for d in updates] == [None, "completed"]
    assert [d["body"]["meta_data"][0]["value"]["tracking_number"] for d in updates] == [
        "JD0001",
        "JD0002",
    ]
    assert {d["channel"] for d in updates} == {"woo"}


def test_stock_goes_to_the_product_the_sku_names_simple_or_variation(
    client: wc.WooCommerceClient, site: str
) -> None:
    httpx.post(
        f"{site}/_sim/channels/woo/wc-products",
        json={
            "products": [{"sku": "TEE-M-BLK", "id": 101, "type": "variation", "parent_id": 93}],
            "open": False,
        },
    ).raise_for_status()
    change = InventoryChanged(sku="TEE-M-BLK", atp=9, locations=[], sellable={"woo": 6})
    assert send(client, change) == 6
    assert send(client, InventoryChanged(sku="NOT-SOLD", atp=3, locations=[])) == 3
    [update] = documents(site, "wc_product_stock")
    assert update["body"] == {"manage_stock": True, "stock_quantity": 6}
    found = httpx.get(f"{site}/channels/woo/wp-json/wc/v3/products", params={"sku": "TEE-M-BLK"})
    assert found.json()[0]["stock_quantity"] == 6


def test_a_simple_products_id_is_looked_up_once(client: wc.WooCommerceClient, site: str) -> None:
    for available in (5, 4):
        send(client, InventoryChanged(sku="TOTE-NAT", atp=available, locations=[]))
    assert client.product_path("TOTE-NAT") == "products/100"
    assert [d["body"]["stock_quantity"] for d in documents(site, "wc_product_stock")] == [5, 4]


def test_a_whole_cancellation_cancels_the_order_and_a_part_of_it_is_a_note(
    client: wc.WooCommerceClient, site: str
) -> None:
    line = AmountLine(
        line_no=1, sku="TEE-M-BLK", quantity=1, net="17.91", discount="1.99", tax="4.12"
    )
    common = {**COMMON, "status": "cancelled", "currency": "EUR", "totals": {}, "lines": [line]}
    assert send(client, OrderCancelled(**common, whole=True, reason="")) == "cancelled"
    assert send(client, OrderCancelled(**common, whole=False, reason="out of stock")) == "noted"
    assert [d["body"] for d in documents(site, "wc_order_update")] == [{"status": "cancelled"}]
    [note] = documents(site, "wc_order_note")
    assert note["body"] == {
        "note": "Cancelled (out of stock): 1 × TEE-M-BLK",
        "customer_note": False,
    }


def test_a_refund_is_recorded_never_made_and_a_backorder_is_a_note(
    client: wc.WooCommerceClient, site: str
) -> None:
    refund = RefundRecorded(
        **COMMON,
        status="fulfilled",
        refund_id="r-1",
        transaction_id="t-1",
        kind="partial",
        return_id=None,
        reason="damaged",
        currency="EUR",
        amount="10.00",
        net="8.13",
        tax="1.87",
        shipping="0.00",
        shipping_tax="0.00",
        lines=[],
    )
    assert send(client, refund) == "1"
    assert documents(site, "wc_refund")[0]["body"] == {
        "amount": "10.00",
        "reason": "damaged",
        "api_refund": False,
    }
    short = OrderBackordered(
        **COMMON, status="backordered", lines=[BackorderedLine(line_no=1, sku="A", quantity=2)]
    )
    assert send(client, short) == "noted"
    assert documents(site, "wc_order_note")[0]["body"]["note"] == "Backordered: 2 × A"


def test_an_acceptance_sends_nothing(client: wc.WooCommerceClient, site: str) -> None:
    accepted = OrderAccepted(
        **COMMON,
        status="allocated",
        placed_at=datetime(2026, 11, 26, 10, tzinfo=UTC),
        currency="EUR",
        customer=CONTRACT_ORDER["customer"],
        shipping_address=CONTRACT_ORDER["shipping_address"],
        billing_address=None,
        shipping=None,
        payment=None,
        totals={},
        lines=[],
    )
    assert "not sent" in str(send(client, accepted))
    assert documents(site) == []


def test_the_sites_errors_are_transient_or_permanent(
    client: wc.WooCommerceClient, site: str
) -> None:
    httpx.post(f"{site}/_sim/channels/faults", json={"down_for_s": 30}).raise_for_status()
    with pytest.raises(TransientError):
        send(client, shipment("fulfilled"))
    with pytest.raises(TransientError):
        client.product_path("ANY")
    httpx.post(f"{site}/_sim/channels/reset").raise_for_status()
    bad = shipment("fulfilled").model_copy(update={"external_id": "not-a-number"})
    with pytest.raises(PermanentError, match="ids are numbers"):
        send(client, bad)
