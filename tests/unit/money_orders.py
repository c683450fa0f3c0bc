"""Orders with money for the unit tests of payments, invoices and refunds (fakes only)."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from domain.commands import AdjustInventory, PlaceOrder, RecordShipment
from domain.money_check import violations
from domain.money_commands import RecordPayment, RecordRefund
from domain.orders import Order
from domain.payments import record_payment
from domain.refunds import record_refund
from domain.services import adjust_inventory, place_order
from domain.shipping import record_shipment
from tests.factories import order_doc
from tests.unit.fakes import FakeUnitOfWork


def money_order(
    uow: FakeUnitOfWork,
    lines: list[tuple[str, int, str, str, str]],
    *,
    shipping: tuple[str, str] = ("4.90", "1.13"),
    status: str = "authorized",
    external_id: str = "M-1",
) -> Order:
    """Stock for every SKU, then an order of `lines` (sku, quantity, unit price, discount,
    tax) with that shipping and payment status; its totals computed."""
    adjustments = [{"sku": sku, "location": "WH", "set_on_hand": 1000} for sku, *_ in lines]
    adjust_inventory(uow, AdjustInventory.model_validate({"adjustments": adjustments}))
    doc = order_doc(external_id)
    doc["lines"] = [
        {"sku": sku, "quantity": q, "unit_price": price, "discount": discount, "tax": tax}
        for sku, q, price, discount, tax in lines
    ]
    doc["shipping"] = {"method": "standard", "amount": shipping[0], "tax": shipping[1]}
    total = (
        sum(
            Decimal(price) * q - Decimal(discount) + Decimal(tax)
            for _, q, price, discount, tax in lines
        )
        + Decimal(shipping[0])
        + Decimal(shipping[1])
    )
    doc["totals"] = {"grand_total": str(total)}
    doc["payment"] = {"method": "card", "status": status, "amount": str(total)}
    order, _ = place_order(uow, PlaceOrder.model_validate(doc), channel="web")
    return order


def ship(uow: FakeUnitOfWork, order_id: uuid.UUID, tracking: str, **lines: int) -> uuid.UUID:
    shipment, _ = record_shipment(
        uow,
        RecordShipment.model_validate(
            {
                "order_id": str(order_id),
                "location": "WH",
                "carrier": "DHL",
                "tracking_number": tracking,
                "lines": [{"sku": sku, "quantity": q} for sku, q in lines.items()],
            }
        ),
    )
    return shipment.id


def pay(
    uow: FakeUnitOfWork, order_id: uuid.UUID, kind: str, tx: str, amount: str, **more: Any
) -> Any:
    cmd = RecordPayment.model_validate(
        {"order_id": str(order_id), "kind": kind, "transaction_id": tx, "amount": amount, **more}
    )
    return record_payment(uow, cmd, source="system:psp")


def refund(uow: FakeUnitOfWork, order_id: uuid.UUID, tx: str, kind: str, **more: Any) -> Any:
    cmd = RecordRefund.model_validate(
        {"order_id": str(order_id), "transaction_id": tx, "kind": kind, **more}
    )
    return record_refund(uow, cmd)


def broken(uow: FakeUnitOfWork, order_id: uuid.UUID) -> list[str]:
    """The money invariant's violations for what the fakes hold of the order."""
    return violations(
        uow.stored(order_id), uow.finance.documents(order_id), uow.finance.payments(order_id)
    )
