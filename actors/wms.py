"""The WMS: one fulfillment order per allocated location, backorder notices, and the
returns it is to expect. Its documents, its client and its handler table; its entry in
actors/systems.py names it."""

from __future__ import annotations

from typing import Any

from adapters.systems.handlers import handlers, on
from adapters.systems.http import SystemClient, part_key, reply_field
from domain.events import OrderAllocated, OrderBackordered, ReturnOpened


def fulfillment_order_documents(order: OrderAllocated) -> list[dict[str, Any]]:
    """One fulfillment order per location, in location order, with that location's lines.

    Each names all the order's current locations, so the WMS cancels what an
    earlier allocation sent to a location that no longer ships any of it.
    """
    by_location: dict[str, list[dict[str, Any]]] = {}
    for reservation in sorted(order.reservations, key=lambda r: (r.location, r.line_no)):
        by_location.setdefault(reservation.location, []).append(
            {
                "line_no": reservation.line_no,
                "sku": reservation.sku,
                "quantity": reservation.quantity,
            }
        )
    locations = sorted(by_location)
    return [
        {
            "order_id": order.order_id,
            "order_number": order.external_id,
            "channel": order.channel,
            "location": location,
            "allocation_locations": locations,
            "ship_to": order.shipping_address,
            "shipping": order.shipping,
            "lines": lines,
        }
        for location, lines in by_location.items()
    ]


# Why nothing of an order is allocated any more, by its status now.
CANCELLATION_REASONS = {
    "cancelled": "the order was cancelled",
    "fulfilled": "the rest of the order was cancelled",
}


def cancellation_document(order: OrderAllocated) -> dict[str, Any]:
    """Nothing of the order is allocated any more: its open fulfillment orders are void
    (those shipped are past cancelling)."""
    return {
        "order_id": order.order_id,
        "order_number": order.external_id,
        "channel": order.channel,
        "reason": CANCELLATION_REASONS.get(
            order.status, "no stock is allocated to the order any more"
        ),
    }


def backorder_document(order: OrderBackordered) -> dict[str, Any]:
    """The order's quantities that no location can ship yet (the WMS holds consolidation)."""
    return {
        "order_id": order.order_id,
        "order_number": order.external_id,
        "channel": order.channel,
        "lines": [
            {"line_no": line.line_no, "sku": line.sku, "quantity": line.quantity}
            for line in order.lines
        ],
    }


def expected_return_document(ret: ReturnOpened) -> dict[str, Any]:
    """Goods on their way back: the WMS receives them against this (its receipt comes back
    to POST /v1/returns/{return_id}/receipts)."""
    return {
        "return_id": ret.return_id,
        "order_id": ret.order_id,
        "order_number": ret.external_id,
        "channel": ret.channel,
        "reason": ret.reason,
        "lines": [
            {"line_no": line.line_no, "sku": line.sku, "quantity": line.quantity}
            for line in ret.lines
        ],
    }


class WmsClient(SystemClient):
    default_system = "wms"

    def post_fulfillment_orders(
        self, order: OrderAllocated, *, idempotency_key: str
    ) -> dict[str, str]:
        """Release the order to each location; location → fulfillment-order number.

        One request per location, each under its own key derived from the
        event's, so a retry after a partial failure repeats the ones that
        succeeded as duplicates and sends only the rest anew. An allocation with
        no reservations left (a stock correction took them all, or the order or its
        unshipped rest was cancelled) cancels what the WMS holds for the order
        instead; one with fewer lines, or another address, replaces its fulfillment
        orders, and cancels those at locations no longer named.
        """
        if not order.reservations:
            self.post(
                "fulfillment-orders/cancellations",
                cancellation_document(order),
                idempotency_key=idempotency_key,
            )
            return {}
        numbers: dict[str, str] = {}
        for document in fulfillment_order_documents(order):
            location = document["location"]
            reply = self.post(
                "fulfillment-orders", document, idempotency_key=part_key(idempotency_key, location)
            )
            numbers[location] = reply_field(self.system, reply, "fulfillment_order_number")
        return numbers

    def post_backorder(self, order: OrderBackordered, *, idempotency_key: str) -> str:
        """Tell the WMS what is backordered; its backorder reference."""
        reply = self.post("backorders", backorder_document(order), idempotency_key=idempotency_key)
        return reply_field(self.system, reply, "backorder_ref")

    def post_expected_return(self, ret: ReturnOpened, *, idempotency_key: str) -> str:
        """Tell the WMS a return is coming; its reference for it."""
        reply = self.post("returns", expected_return_document(ret), idempotency_key=idempotency_key)
        return reply_field(self.system, reply, "return_ref")


HANDLERS = handlers(
    on(OrderAllocated, WmsClient.post_fulfillment_orders),
    on(OrderBackordered, WmsClient.post_backorder),
    on(ReturnOpened, WmsClient.post_expected_return),
)
