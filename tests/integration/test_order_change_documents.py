"""The documents of edits and cancellations, as the actors make them from the events, taken
by the simulated ERP, WMS and channel over real HTTP: what each then holds, and what each
refuses (the events come from the domain services over the fakes)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from actors import erp, wms
from adapters.channels import canonical
from domain.amendments import cancel_order, edit_order
from domain.change_commands import CancelOrder, EditOrder
from domain.commands import PlaceOrder, RecordShipment
from domain.events import (
    EventPayload,
    OrderAccepted,
    OrderAllocated,
    OrderAmended,
    OrderBackordered,
    OrderCancelled,
    ShipmentDispatched,
)
from domain.orders import Order
from domain.services import place_order
from domain.shipping import record_shipment
from simulators.app import init_sim_app
from tests.factories import CONTRACT_ORDER, order_doc
from tests.integration.test_simulators import ClientFactory
from tests.unit.fakes import FakeUnitOfWork

pytestmark = pytest.mark.integration


@pytest.fixture
async def sim(aiohttp_client: ClientFactory) -> TestClient[Any, Any]:
    return await aiohttp_client(init_sim_app(seed=1))


class Story:
    """An order's life on the fakes, and its events' payloads as the actors get them."""

    def __init__(self, lines: list[tuple[str, int]], on_hand: int = 10) -> None:
        self.uow = FakeUnitOfWork()
        for sku, _ in lines:
            self.uow.inventory.seed(sku, "WH-EAST", on_hand)
        self.order: Order = place_order(
            self.uow, PlaceOrder.model_validate(order_doc("DOC-1", lines)), channel="web"
        )[0]

    def last(self, kind: type[EventPayload]) -> Any:
        return [e.payload for e in self.uow.committed_events if isinstance(e.payload, kind)][-1]

    def ship(self, **lines: int) -> ShipmentDispatched:
        cmd = RecordShipment.model_validate(
            {
                "order_id": str(self.order.id),
                "location": "WH-EAST",
                "carrier": "DHL",
                "tracking_number": f"T-{uuid.uuid4()}",
                "lines": [{"sku": sku, "quantity": q} for sku, q in lines.items()],
            }
        )
        record_shipment(self.uow, cmd)
        return self.last(ShipmentDispatched)  # type: ignore[no-any-return]

    def cancel(self, body: dict[str, Any]) -> OrderCancelled:
        cancel_order(self.uow, self.order.id, CancelOrder.model_validate(body))
        return self.last(OrderCancelled)  # type: ignore[no-any-return]

    def edit(self, body: dict[str, Any]) -> OrderAmended:
        edit_order(self.uow, self.order.id, EditOrder.model_validate(body))
        return self.last(OrderAmended)  # type: ignore[no-any-return]

    @property
    def stored(self) -> Order:
        return self.uow.stored(self.order.id)


async def post(sim: TestClient[Any, Any], path: str, document: dict[str, Any]) -> Any:
    response = await sim.post(path, json=document, headers={"Idempotency-Key": str(uuid.uuid4())})
    return response.status, await response.json()


async def sales_order(sim: TestClient[Any, Any], ref: str) -> dict[str, Any]:
    state = await (await sim.get("/_sim/erp/state")).json()
    [found] = [so for so in state["sales_orders"] if so["order_ref"] == ref]
    return dict(found)


async def test_the_shipped_part_invoiced_and_the_rest_cancelled_leave_the_sales_order_invoiced(
    sim: TestClient[Any, Any],
) -> None:
    story = Story([("A", 2), ("B", 1)])
    assert (
        await post(sim, "/erp/sales-orders", erp.sales_order_document(story.last(OrderAccepted)))
    )[0] == 201
    assert (await post(sim, "/erp/invoices", erp.invoice_document(story.ship(A=2))))[0] == 201
    assert (await sales_order(sim, str(story.order.id)))["status"] == "open"

    cancelled = story.cancel({"reason": "out of stock at the supplier"})
    status, reply = await post(
        sim, "/erp/sales-orders/cancellations", erp.cancellation_document(cancelled)
    )

    assert (status, reply["status"]) == (200, "invoiced"), reply
    held = await sales_order(sim, str(story.order.id))
    assert [(ln["sku"], ln["quantity"]) for ln in held["order"]["lines"]] == [("A", 2)]
    assert [(ln["sku"], ln["quantity"]) for ln in held["removed_lines"]] == [("B", 0)]
    assert held["order"]["totals"] == story.stored.totals  # what is left: the shipped part
    # Its read API (reconciliation's) says the same.
    read = await (
        await sim.get("/erp/sales-orders", params={"since": "2000-01-01T00:00:00Z"})
    ).json()
    [item] = read["items"]
    assert (item["status"], item["totals"]["grand_total"]) == ("invoiced", "26.03")


async def test_a_whole_cancellation_cancels_the_sales_order_which_then_takes_nothing_more(
    sim: TestClient[Any, Any],
) -> None:
    story = Story([("A", 2)])
    await post(sim, "/erp/sales-orders", erp.sales_order_document(story.last(OrderAccepted)))
    cancelled = story.cancel({})
    assert cancelled.whole

    status, reply = await post(
        sim, "/erp/sales-orders/cancellations", erp.cancellation_document(cancelled)
    )

    assert (status, reply["status"]) == (200, "cancelled")
    invoice = {
        "order_ref": str(story.order.id),
        "shipment": {"location": "WH-EAST", "tracking_number": "T9"},
        "lines": [{"sku": "A", "quantity": 1}],
    }
    refused = [
        await post(sim, "/erp/invoices", invoice),
        await post(sim, "/erp/sales-orders/cancellations", erp.cancellation_document(cancelled)),
    ]
    assert [s for s, _ in refused] == [422, 422]
    assert all("cancelled" in body["detail"] for _, body in refused)
    assert (await sales_order(sim, str(story.order.id)))["status"] == "cancelled"


async def test_an_amendment_replaces_lines_ship_to_and_totals_but_never_below_the_invoiced(
    sim: TestClient[Any, Any],
) -> None:
    story = Story([("A", 3), ("B", 2)])
    await post(sim, "/erp/sales-orders", erp.sales_order_document(story.last(OrderAccepted)))
    await post(sim, "/erp/invoices", erp.invoice_document(story.ship(A=1)))
    address = {**CONTRACT_ORDER["shipping_address"], "city": "Faro"}
    amended = story.edit({"shipping_address": address, "lines": [{"line_no": 1, "quantity": 1}]})

    status, reply = await post(sim, "/erp/sales-orders/amendments", erp.amendment_document(amended))

    assert (status, reply["status"]) == (200, "open"), reply
    held = await sales_order(sim, str(story.order.id))
    assert [(ln["sku"], ln["quantity"]) for ln in held["order"]["lines"]] == [("A", 1), ("B", 2)]
    assert held["order"]["ship_to"]["city"] == "Faro"
    assert held["order"]["totals"]["grand_total"] == story.stored.totals["grand_total"] == "36.03"
    # An amendment that would take the invoiced unit off is refused, and changes nothing.
    below = erp.amendment_document(amended)
    below["lines"][0]["quantity"] = 0
    status, reply = await post(sim, "/erp/sales-orders/amendments", below)
    assert status == 422 and "1 invoiced, 0 left ordered" in reply["detail"]
    assert (await sales_order(sim, str(story.order.id)))["order"]["lines"] == held["order"]["lines"]


async def test_a_whole_cancellation_of_an_invoiced_sales_order_is_refused(
    sim: TestClient[Any, Any],
) -> None:
    story = Story([("A", 2)])
    await post(sim, "/erp/sales-orders", erp.sales_order_document(story.last(OrderAccepted)))
    await post(sim, "/erp/invoices", erp.invoice_document(story.ship(A=1)))
    document = erp.cancellation_document(story.cancel({}))
    document["whole"] = True  # what ordersync never sends for a part-shipped order

    status, reply = await post(sim, "/erp/sales-orders/cancellations", document)

    assert status == 422 and "invoiced in part" in reply["detail"]


async def test_the_channel_shows_a_cancellation_whole_or_partial_with_its_lines(
    sim: TestClient[Any, Any],
) -> None:
    story = Story([("A", 2), ("B", 1)])
    partial = canonical.cancelled_document(story.cancel({"lines": [{"line_no": 1, "quantity": 1}]}))
    whole = canonical.cancelled_document(story.cancel({}))

    first = await post(sim, "/channels/web/order-status", partial)
    second = await post(sim, "/channels/web/order-status", whole)
    bare = await post(sim, "/channels/web/order-status", {**partial, "lines": None})

    assert (first[1]["status"], second[1]["status"]) == ("partially_cancelled", "cancelled")
    assert partial["lines"] == [{"line_no": 1, "sku": "A", "quantity": 1}]
    assert whole["lines"] == [
        {"line_no": 1, "sku": "A", "quantity": 1},
        {"line_no": 2, "sku": "B", "quantity": 1},
    ]
    assert bare[0] == 422 and "lines" in bare[1]["detail"]
    state = await (await sim.get("/_sim/channels/state")).json()
    [record] = state["order_status"]
    assert record["history"] == ["partially_cancelled", "cancelled"]


async def test_the_wms_cancels_what_is_left_open_and_says_why(sim: TestClient[Any, Any]) -> None:
    story = Story([("A", 2), ("B", 1)])
    [released] = wms.fulfillment_order_documents(story.last(OrderAllocated))
    await post(sim, "/wms/fulfillment-orders", released)
    story.cancel({"lines": [{"line_no": 2, "quantity": 1}]})
    [fewer] = wms.fulfillment_order_documents(story.last(OrderAllocated))
    assert [ln["sku"] for ln in fewer["lines"]] == ["A"]

    replaced = await post(sim, "/wms/fulfillment-orders", fewer)
    story.cancel({})
    none_left: OrderAllocated = story.last(OrderAllocated)
    assert none_left.reservations == []
    document = wms.cancellation_document(none_left)
    cancelled = await post(sim, "/wms/fulfillment-orders/cancellations", document)

    assert replaced[0] == 200  # the same fulfillment order, with fewer lines
    assert document["reason"] == "the order was cancelled"
    assert cancelled == (200, {"cancelled": ["FO-000001"], "shipped": []})


async def test_only_the_locations_named_ship_and_the_setting_is_the_wms_own(
    aiohttp_client: ClientFactory,
) -> None:
    sim = await aiohttp_client(init_sim_app(ordersync_url="http://127.0.0.1:9", wms_key="k"))
    for system, value, says in (
        ("erp", ["WH-EAST"], "setting of the wms only"),
        ("wms", "WH-EAST", "list of location codes"),
        ("wms", [""], "list of location codes"),
    ):
        refused = await sim.post(f"/_sim/{system}/faults", json={"ship_locations": value})
        assert refused.status == 400 and says in (await refused.json())["detail"]

    told = await sim.post(
        "/_sim/wms/faults", json={"ship_locations": ["WH-EAST"], "ship_after_s": 60}
    )

    assert told.status == 200
    assert (await told.json())["ship_locations"] == ["WH-EAST"]
    story = Story([("A", 1)])
    east = wms.fulfillment_order_documents(story.last(OrderAllocated))[0]
    west = {**east, "location": "WH-WEST", "allocation_locations": ["WH-EAST", "WH-WEST"]}
    east["allocation_locations"] = ["WH-EAST", "WH-WEST"]
    await post(sim, "/wms/fulfillment-orders", east)
    await post(sim, "/wms/fulfillment-orders", west)
    assert (await (await sim.get("/_sim/shipper")).json())["pending"] == 1  # WH-EAST only
    await sim.post("/_sim/wms/reset")
    assert (await (await sim.get("/_sim/shipper")).json())["ship_locations"] is None


async def test_a_cancelled_order_leaves_no_backorder_at_the_wms(sim: TestClient[Any, Any]) -> None:
    story = Story([("A", 3)], on_hand=1)  # 1 reserved, 2 backordered
    [released] = wms.fulfillment_order_documents(story.last(OrderAllocated))
    await post(sim, "/wms/fulfillment-orders", released)
    await post(sim, "/wms/backorders", wms.backorder_document(story.last(OrderBackordered)))
    assert len((await (await sim.get("/_sim/wms/state")).json())["backorders"]) == 1

    story.cancel({})
    status, _ = await post(
        sim,
        "/wms/fulfillment-orders/cancellations",
        wms.cancellation_document(story.last(OrderAllocated)),
    )

    assert status == 200
    state = await (await sim.get("/_sim/wms/state")).json()
    assert state["backorders"] == []
    assert [fo["status"] for fo in state["fulfillment_orders"]] == ["cancelled"]
