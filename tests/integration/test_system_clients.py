"""The system clients against the simulators on a real port: shapes, idempotency, errors."""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from actors.crm import CrmClient
from actors.erp import ErpClient, sales_order_document
from actors.wms import WmsClient
from adapters.channels.canonical import ChannelClient
from adapters.systems.errors import PermanentError, TransientError
from adapters.systems.http import classify, parse_retry_after
from domain.events import (
    BackorderedLine,
    EventPayload,
    InventoryChanged,
    MoneyLine,
    OrderAccepted,
    OrderAllocated,
    OrderBackordered,
    ReservationOut,
    ShipmentDispatched,
    ShippedLineOut,
)
from outbox.envelope import Envelope
from simulators.app import init_sim_app
from simulators.server import ServerThread
from tests.factories import CONTRACT_ORDER

pytestmark = pytest.mark.integration

ORDER_ID = str(uuid.UUID(int=1))
ADDRESS = CONTRACT_ORDER["shipping_address"]
COMMON = {"order_id": ORDER_ID, "channel": "web", "external_id": "WEB-10001"}


def accepted() -> OrderAccepted:
    return OrderAccepted(
        **COMMON,
        status="allocated",
        placed_at=datetime(2026, 11, 26, 10, tzinfo=UTC),
        currency="EUR",
        customer={"email": "Ana@Example.com", "name": "Ana Silva", "phone": "+351910000000"},
        shipping_address=ADDRESS,
        billing_address=None,
        shipping={"method": "standard", "amount": "4.90", "tax": "1.13"},
        payment={"method": "card", "status": "authorized", "amount": "54.98"},
        totals={
            "subtotal": "39.80",
            "discount_total": "0.00",
            "tax_total": "10.28",
            "shipping_total": "4.90",
            "grand_total": "54.98",
        },
        lines=[
            MoneyLine(
                line_no=1, sku="TEE-M-BLK", quantity=2, unit_price="19.90", discount="0", tax="9.15"
            )
        ],
    )


def allocated() -> OrderAllocated:
    return OrderAllocated(
        **COMMON,
        status="allocated",
        shipping_address=ADDRESS,
        shipping={"method": "standard"},
        reservations=[
            ReservationOut(line_no=1, sku="TEE-M-BLK", location="WH-EAST", quantity=1),
            ReservationOut(line_no=1, sku="TEE-M-BLK", location="STORE-LIS", quantity=1),
        ],
    )


def envelope(payload: EventPayload, destination: str, generation: int = 0) -> Envelope:
    """The message an actor receives; its key is what the client sends."""
    return Envelope(
        event_id=uuid.uuid5(uuid.NAMESPACE_URL, f"{payload.event_type}/{payload.aggregate_id()}"),
        event_type=payload.event_type,
        event_version=1,
        aggregate_type=payload.aggregate_type,
        aggregate_id=payload.aggregate_id(),
        aggregate_version=1,
        destination=destination,
        sequence=1,
        generation=generation,
        occurred_at=datetime.now(UTC),
        correlation_id=None,
        causation_id=None,
        channel="web",
        payload=payload.model_dump(mode="json"),
    )


SHIPMENT = ShipmentDispatched(
    **COMMON,
    status="fulfilled",
    shipment_id="s-1",
    location="WH-EAST",
    carrier="DHL",
    tracking_number="JD0001",
    lines=[ShippedLineOut(line_no=1, sku="TEE-M-BLK", quantity=1)],
    currency="EUR",
    shipped_value="24.87",
)


class Sim:
    def __init__(self, url: str) -> None:
        self.url = url

    def documents(self, system: str) -> dict[str, Any]:
        return dict(httpx.get(f"{self.url}/_sim/{system}/documents").json())

    def faults(self, system: str, **settings: Any) -> None:
        httpx.post(f"{self.url}/_sim/{system}/faults", json=settings).raise_for_status()


@pytest.fixture
def sim() -> Iterator[Sim]:
    with ServerThread(init_sim_app(seed=1)) as server:
        yield Sim(server.url)


@pytest.fixture
def erp(sim: Sim) -> Iterator[ErpClient]:
    with ErpClient(f"{sim.url}/erp", read_timeout_s=2.0) as client:
        yield client


def test_the_erp_gets_the_sales_order_in_its_shape(sim: Sim, erp: ErpClient) -> None:
    message = envelope(accepted(), "erp")
    order = OrderAccepted.model_validate(message.payload)

    number = erp.post_sales_order(order, idempotency_key=message.idempotency_key())

    assert number == "SO-000001"
    (document,) = sim.documents("erp")["documents"]
    assert document["idempotency_key"] == message.idempotency_key()
    assert (document["type"], document["channel"]) == ("sales_order", "web")
    body = document["body"]
    assert body == json.loads(json.dumps(sales_order_document(order)))
    assert (body["order_ref"], body["order_number"]) == (ORDER_ID, "WEB-10001")
    assert body["customer"]["email"] == "ana@example.com"
    assert body["lines"][0]["net_amount"] == "39.80"
    assert body["totals"]["grand_total"] == "54.98"
    assert body["ship_to"] == body["bill_to"] == ADDRESS


def test_a_redelivery_is_a_duplicate_and_a_reprocess_a_new_document(
    sim: Sim, erp: ErpClient
) -> None:
    first = envelope(accepted(), "erp")
    again = envelope(accepted(), "erp")
    reprocess = envelope(accepted(), "erp", generation=1)

    numbers = {
        erp.post_sales_order(accepted(), idempotency_key=m.idempotency_key())
        for m in (first, again, reprocess)
    }

    assert numbers == {"SO-000001"}  # the ERP upserts by order_ref
    seen = sim.documents("erp")
    assert (seen["count"], seen["duplicates"]) == (2, 1)


def test_the_erp_invoices_a_shipment(sim: Sim, erp: ErpClient) -> None:
    erp.post_sales_order(accepted(), idempotency_key="k-order")

    number = erp.post_invoice(SHIPMENT, idempotency_key="k-invoice")

    assert number == "INV-000001"
    body = sim.documents("erp")["documents"][1]["body"]
    assert body["order_ref"] == ORDER_ID
    assert body["shipment"] == {
        "location": "WH-EAST",
        "carrier": "DHL",
        "tracking_number": "JD0001",
    }
    assert body["lines"] == [{"line_no": 1, "sku": "TEE-M-BLK", "quantity": 1}]
    assert body["amounts"] is None  # an event from before invoices had amounts: the ERP prices it


def test_the_wms_gets_one_fulfillment_order_per_location(sim: Sim) -> None:
    message = envelope(allocated(), "wms")
    with WmsClient(f"{sim.url}/wms") as wms:
        numbers = wms.post_fulfillment_orders(
            allocated(), idempotency_key=message.idempotency_key()
        )
        again = wms.post_fulfillment_orders(allocated(), idempotency_key=message.idempotency_key())

    assert numbers == again == {"STORE-LIS": "FO-000001", "WH-EAST": "FO-000002"}
    seen = sim.documents("wms")
    assert (seen["count"], seen["duplicates"]) == (2, 2)
    bodies = {d["body"]["location"]: d["body"] for d in seen["documents"]}
    assert bodies["WH-EAST"]["lines"] == [{"line_no": 1, "sku": "TEE-M-BLK", "quantity": 1}]
    assert bodies["WH-EAST"]["allocation_locations"] == ["STORE-LIS", "WH-EAST"]
    assert bodies["STORE-LIS"]["order_id"] == ORDER_ID
    assert bodies["STORE-LIS"]["ship_to"] == ADDRESS
    assert bodies["STORE-LIS"]["shipping"] == {"method": "standard"}


def test_an_allocation_with_nothing_left_cancels_the_wms_fulfillment_orders(sim: Sim) -> None:
    """A stock correction took all of the order's reservations: what the WMS was sent is
    void, and it must hear so (else it would try to pick stock that is not there)."""
    emptied = allocated().model_copy(update={"reservations": []})
    with WmsClient(f"{sim.url}/wms") as wms:
        wms.post_fulfillment_orders(allocated(), idempotency_key="k-1")
        assert wms.post_fulfillment_orders(emptied, idempotency_key="k-2") == {}

    state = httpx.get(f"{sim.url}/_sim/wms/state").json()
    assert {fo["status"] for fo in state["fulfillment_orders"]} == {"cancelled"}
    [cancel] = [d for d in sim.documents("wms")["documents"] if "reason" in d["body"]]
    assert cancel["body"]["order_id"] == ORDER_ID


def test_the_wms_hears_of_backorders(sim: Sim) -> None:
    order = OrderBackordered(
        **COMMON,
        status="backordered",
        lines=[BackorderedLine(line_no=1, sku="TEE-M-BLK", quantity=2)],
    )
    with WmsClient(f"{sim.url}/wms") as wms:
        reference = wms.post_backorder(order, idempotency_key="k-1")

    assert reference == "BO-000001"
    (document,) = sim.documents("wms")["documents"]
    assert document["type"] == "backorder"
    assert document["body"]["lines"] == [{"line_no": 1, "sku": "TEE-M-BLK", "quantity": 2}]


def test_the_crm_gets_a_contact_and_a_timeline_entry(sim: Sim) -> None:
    message = envelope(accepted(), "crm")
    with CrmClient(f"{sim.url}/crm") as crm:
        ids = crm.record_order(accepted(), idempotency_key=message.idempotency_key())
        again = crm.record_order(accepted(), idempotency_key=message.idempotency_key())

    assert ids == again == ("C-000001", "T-000001")
    seen = sim.documents("crm")
    assert (seen["count"], seen["duplicates"]) == (2, 2)
    contact, entry = (d["body"] for d in seen["documents"])
    assert contact["email"] == "ana@example.com"
    # The profile is customer.updated's to send: an order's contact names its e-mail only.
    assert contact == {"email": "ana@example.com", "channel": "web"}
    assert (entry["order_id"], entry["event"], entry["amount"]) == (
        ORDER_ID,
        "order.accepted",
        "54.98",
    )


def test_the_channel_gets_order_statuses_and_stock(sim: Sim) -> None:
    backordered = OrderBackordered(
        **COMMON, status="backordered", lines=[BackorderedLine(line_no=1, sku="X", quantity=1)]
    )
    stock = InventoryChanged(sku="TEE-M-BLK", atp=7, locations=[])
    with ChannelClient(f"{sim.url}/channels/web", channel="web") as channel:
        statuses = [
            channel.acknowledge(accepted(), idempotency_key="k-1"),
            channel.backordered(backordered, idempotency_key="k-2"),
            channel.shipped(SHIPMENT, idempotency_key="k-3"),
        ]
        available = channel.update_stock(stock, idempotency_key="k-4")

    assert statuses == ["acknowledged", "backordered", "shipped"]
    assert available == 7
    documents = sim.documents("channels")["documents"]
    assert {d["channel"] for d in documents} == {"web"}
    assert [d["type"] for d in documents] == ["order_status"] * 3 + ["inventory"]
    assert documents[2]["body"]["tracking"] == {
        "carrier": "DHL",
        "tracking_number": "JD0001",
        "location": "WH-EAST",
    }
    assert documents[3]["body"] == {"sku": "TEE-M-BLK", "available": 7}


def test_a_503_is_transient(sim: Sim, erp: ErpClient) -> None:
    sim.faults("erp", error_rate=1)

    with pytest.raises(TransientError) as caught:
        erp.post_sales_order(accepted(), idempotency_key="k-1")

    assert (caught.value.system, caught.value.status) == ("erp", 503)
    assert sim.documents("erp")["count"] == 0


def test_a_422_is_permanent_with_the_reason(sim: Sim, erp: ErpClient) -> None:
    sim.faults("erp", reject_rate=1)

    with pytest.raises(PermanentError) as caught:
        erp.post_sales_order(accepted(), idempotency_key="k-1")

    assert caught.value.status == 422
    assert "rejected the sales_order" in caught.value.reason


def test_a_429_is_transient_with_its_retry_after(sim: Sim, erp: ErpClient) -> None:
    sim.faults("erp", throttle_rate=1)

    with pytest.raises(TransientError) as caught:
        erp.post_sales_order(accepted(), idempotency_key="k-1")

    assert (caught.value.status, caught.value.retry_after) == (429, 1.0)


def test_a_system_that_is_down_is_transient_and_fails_its_probe(sim: Sim, erp: ErpClient) -> None:
    sim.faults("erp", down_for_s=5)

    with pytest.raises(TransientError) as caught:
        erp.post_sales_order(accepted(), idempotency_key="k-1")

    assert caught.value.retry_after == 5.0
    assert erp.probe() is False
    sim.faults("erp", down_for_s=0)
    assert erp.probe() is True


def test_a_channel_is_named_in_its_errors(sim: Sim) -> None:
    sim.faults("channels", error_rate=1)

    with ChannelClient(f"{sim.url}/channels/web", channel="web") as channel:
        with pytest.raises(TransientError, match=r"^channel:web: ") as caught:
            channel.acknowledge(accepted(), idempotency_key="k-1")

    assert caught.value.system == "channel:web"


def test_a_port_in_use_fails_the_server_thread_cleanly(sim: Sim) -> None:
    port = int(sim.url.rsplit(":", 1)[1])

    with pytest.raises(OSError):
        ServerThread(init_sim_app(), port=port).start()


def test_a_wrong_path_is_permanent(sim: Sim) -> None:
    with ErpClient(f"{sim.url}/no-such-erp") as client, pytest.raises(PermanentError) as caught:
        client.post_sales_order(accepted(), idempotency_key="k-1")

    assert caught.value.status == 404


def test_a_refused_connection_is_transient() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed when the block ends: nobody listens there
    with (
        ErpClient(f"http://127.0.0.1:{port}/erp") as client,
        pytest.raises(TransientError) as caught,
    ):
        client.post_sales_order(accepted(), idempotency_key="k-1")

    assert caught.value.status is None


def test_a_read_timeout_is_transient_and_records_nothing(sim: Sim) -> None:
    sim.faults("erp", latency_ms=300)
    with ErpClient(f"{sim.url}/erp", read_timeout_s=0.1) as client:
        with pytest.raises(TransientError) as caught:
            client.post_sales_order(accepted(), idempotency_key="k-1")
        assert "timed out" in caught.value.reason
        time.sleep(0.35)  # the simulator finishes its delay and sees the caller gone
        assert sim.documents("erp")["count"] == 0

        sim.faults("erp", latency_ms=0)
        assert client.post_sales_order(accepted(), idempotency_key="k-1") == "SO-000001"

    assert sim.documents("erp")["duplicates"] == 0


def test_every_call_needs_an_idempotency_key(erp: ErpClient) -> None:
    with pytest.raises(ValueError, match="Idempotency-Key"):
        erp.post_sales_order(accepted(), idempotency_key="")


@pytest.mark.parametrize(
    ("status", "error"),
    [(408, TransientError), (409, TransientError), (500, TransientError), (400, PermanentError)],
)
def test_statuses_are_classified_once(status: int, error: type[Exception]) -> None:
    response = httpx.Response(status, json={"detail": "why"})

    with pytest.raises(error, match="why"):
        classify("erp", response)


def test_retry_after_may_be_seconds_or_an_http_date() -> None:
    now = datetime(2026, 11, 26, 10, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)

    assert parse_retry_after("12") == 12.0
    assert parse_retry_after(later, now=now) == 30.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
