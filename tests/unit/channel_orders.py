"""A Shopify order applied through domain/channel_sync.py over the fakes, for the unit
tests of what a channel's later deliveries (refunds, paid versions) do to its money."""

from __future__ import annotations

import json
import uuid
from typing import Any

from adapters.channels import shopify
from adapters.channels.shopify_changes import RefundBasis
from adapters.channels.shopify_orders import stock_lines
from adapters.channels.shopify_payloads import Order
from adapters.channels.webhook import Receipt
from domain.channel_order_sync import Applied
from domain.channel_sync import apply_delivery
from domain.commands import AdjustInventory, RecordShipment
from domain.services import adjust_inventory
from domain.shipping import record_shipment
from tests.shopify_docs import delivery, doc
from tests.unit.fakes import FakeUnitOfWork

CHANNEL = "shop"
EXTERNAL_ID = "5820334194882"  # orders_create.json's id


class FixtureShop:
    """The client's one read a refund needs: the fixture order's line positions."""

    def refund_basis(self, order_id: int) -> RefundBasis:
        order = Order.model_validate(doc("orders_create"))
        positions = {item.id: n for n, item in stock_lines(order.line_items)}
        return RefundBasis(positions, order.taxes_included)


def deliver(uow: FakeUnitOfWork, topic: str, document: dict[str, Any]) -> Applied:
    """One Shopify delivery, interpreted and applied in one fake transaction."""
    body = json.dumps(document, default=str).encode()
    commands = shopify.interpret(Receipt("d", topic), delivery(body, topic), FixtureShop())
    with uow:
        applied = apply_delivery(uow, commands, channel=CHANNEL)
        uow.commit()
    return applied


def shopify_order(uow: FakeUnitOfWork, **members: Any) -> uuid.UUID:
    """orders_create.json (with `members` changed) applied, its SKUs in stock at WH."""
    stock = [{"sku": s, "location": "WH", "set_on_hand": 20} for s in ("TEE-M-BLK", "MUG-WHT")]
    adjust_inventory(uow, AdjustInventory.model_validate({"adjustments": stock}))
    deliver(uow, "orders/create", {**doc("orders_create"), **members})
    order_id = uow.channel_sync.order_id(CHANNEL, EXTERNAL_ID)
    assert order_id is not None
    return order_id


def ship_all(uow: FakeUnitOfWork, order_id: uuid.UUID, tracking: str = "T1") -> uuid.UUID:
    """The whole order shipped from WH in one parcel."""
    order = uow.stored(order_id)
    shipment, _ = record_shipment(
        uow,
        RecordShipment.model_validate(
            {
                "order_id": str(order_id),
                "location": "WH",
                "carrier": "UPS",
                "tracking_number": tracking,
                "lines": [{"sku": ln.sku, "quantity": ln.quantity} for ln in order.lines],
            }
        ),
    )
    return shipment.id
