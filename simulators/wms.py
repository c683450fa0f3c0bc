"""The fake WMS: one fulfillment order per (order, location), and backorder notices.

A fulfillment order is replaced by a newer one for the same order and location
(a re-allocation), and one naming the order's current `allocation_locations`
cancels the order's open fulfillment orders elsewhere. A shipped one cannot
change any more. Released orders are shipped back to ordersync when shipping
is on (see shipper.py).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from simulators.endpoint import Call, Rejected, validated


class _Doc(BaseModel):
    model_config = ConfigDict(extra="allow")


class PickLine(_Doc):
    line_no: int | None = Field(default=None, ge=1)
    sku: str = Field(min_length=1)
    quantity: int = Field(gt=0)


class ShipTo(_Doc):
    name: str = Field(min_length=1)
    line1: str = Field(min_length=1)
    city: str = Field(min_length=1)
    country: str = Field(min_length=2, max_length=2)


class FulfillmentOrder(_Doc):
    order_id: str = Field(min_length=1)
    order_number: str = Field(min_length=1)
    channel: str = Field(min_length=1)
    location: str = Field(min_length=1)
    allocation_locations: list[str] | None = None
    ship_to: ShipTo  # a warehouse cannot ship without it
    lines: list[PickLine] = Field(min_length=1)


class BackorderLine(_Doc):
    line_no: int | None = Field(default=None, ge=1)
    sku: str = Field(min_length=1)
    quantity: int = Field(ge=0)


class Backorder(_Doc):
    order_id: str = Field(min_length=1)
    order_number: str = Field(min_length=1)
    channel: str = Field(min_length=1)
    lines: list[BackorderLine] = Field(min_length=1)


def fulfillment_order(call: Call) -> tuple[int, dict[str, Any]]:
    """POST /wms/fulfillment-orders: 201 released, 200 replaced (a re-allocation)."""
    doc = validated(FulfillmentOrder, call.body)
    if doc.allocation_locations is not None and doc.location not in doc.allocation_locations:
        raise Rejected(f"location {doc.location!r} is not among allocation_locations")
    orders = call.store.collection("fulfillment_orders")
    key = f"{doc.order_id}/{doc.location}"
    known = orders.get(key)
    if known is not None and known["status"] == "shipped":
        number = known["fulfillment_order_number"]
        raise Rejected(f"fulfillment order {number} at {doc.location} has already shipped")
    number = known["fulfillment_order_number"] if known else call.store.next_number("FO")
    orders[key] = {
        "fulfillment_order_number": number,
        "order_id": doc.order_id,
        "order_number": doc.order_number,
        "channel": doc.channel,
        "location": doc.location,
        "ship_to": doc.ship_to.model_dump(),
        "lines": [line.model_dump(exclude_none=True) for line in doc.lines],
        "status": "released",
    }
    cancelled = []
    if doc.allocation_locations is not None:
        for other in orders.values():
            if (
                other["order_id"] == doc.order_id
                and other["location"] not in doc.allocation_locations
                and other["status"] == "released"
            ):
                other["status"] = "cancelled"
                cancelled.append(other["fulfillment_order_number"])
    call.sim.shipper.schedule(key)
    reply = {"fulfillment_order_number": number, "status": "released", "cancelled": cancelled}
    return (200 if known else 201), reply


class Cancellation(_Doc):
    order_id: str = Field(min_length=1)
    order_number: str = Field(min_length=1)
    channel: str = Field(min_length=1)
    reason: str = Field(min_length=1)


def cancellation(call: Call) -> tuple[int, dict[str, Any]]:
    """POST /wms/fulfillment-orders/cancellations: the order has nothing left to ship;
    its released fulfillment orders are cancelled (shipped ones are past cancelling), and
    its backorder notice is void (a backorder still due comes after, as its own notice)."""
    doc = validated(Cancellation, call.body)
    mine = [
        o
        for o in call.store.collection("fulfillment_orders").values()
        if o["order_id"] == doc.order_id
    ]
    cancelled = []
    for order in mine:
        if order["status"] == "released":
            order["status"] = "cancelled"
            cancelled.append(order["fulfillment_order_number"])
    shipped = [o["fulfillment_order_number"] for o in mine if o["status"] == "shipped"]
    call.store.collection("backorders").pop(doc.order_id, None)
    return 200, {"cancelled": cancelled, "shipped": shipped}


def backorder(call: Call) -> tuple[int, dict[str, Any]]:
    """POST /wms/backorders: the order's current backordered quantities (replacing older ones)."""
    doc = validated(Backorder, call.body)
    backorders = call.store.collection("backorders")
    known = backorders.get(doc.order_id)
    ref = known["backorder_ref"] if known else call.store.next_number("BO")
    backorders[doc.order_id] = {"backorder_ref": ref, **doc.model_dump(exclude_none=True)}
    return (200 if known else 201), {"backorder_ref": ref}


class ExpectedReturnLine(_Doc):
    line_no: int = Field(ge=1)
    sku: str = Field(min_length=1)
    quantity: int = Field(gt=0)


class ExpectedReturn(_Doc):
    return_id: str = Field(min_length=1)
    order_id: str = Field(min_length=1)
    order_number: str = Field(min_length=1)
    channel: str = Field(min_length=1)
    reason: str = Field(min_length=1)
    lines: list[ExpectedReturnLine] = Field(min_length=1)


def expected_return(call: Call) -> tuple[int, dict[str, Any]]:
    """POST /wms/returns: goods are on their way back; the WMS expects them (201; a return
    it already expects again: 200, the same reference)."""
    doc = validated(ExpectedReturn, call.body)
    expected = call.store.collection("returns")
    known = expected.get(doc.return_id)
    ref = known["return_ref"] if known else call.store.next_number("RT")
    expected[doc.return_id] = {"return_ref": ref, "status": "expected", **doc.model_dump()}
    return (200 if known else 201), {"return_ref": ref}
