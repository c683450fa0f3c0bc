"""A channel's order captured later at the channel: a newer version saying it is paid (or
how much is captured) records the capture through the payment service, once per version."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from adapters.channels import woocommerce
from domain.channel_sync import apply_delivery
from domain.commands import AdjustInventory
from domain.finance import AUTHORIZATION, CAPTURE
from domain.services import adjust_inventory
from tests.shopify_docs import doc
from tests.unit.channel_orders import CHANNEL, EXTERNAL_ID, deliver, ship_all, shopify_order
from tests.unit.fakes import FakeUnitOfWork
from tests.unit.money_orders import broken

TOTAL = 5613  # orders_create.json: 56.13, all of it ours
LATER = "2026-11-26T12:04:31-05:00"  # the version of the update that says it is paid
PAID_TX = f"{CHANNEL}:{EXTERNAL_ID}:capture:20261126T170431.000000Z"


def later(**members: Any) -> dict[str, Any]:
    """orders_create.json as Shopify sends it again later, with `members` changed."""
    return {**doc("orders_create"), "updated_at": LATER, **members}


def payments(uow: FakeUnitOfWork, order_id: uuid.UUID) -> list[tuple[str, str, int]]:
    return [(p.kind, p.transaction_id, p.amount) for p in uow.finance.payments(order_id)]


def figures(uow: FakeUnitOfWork, order_id: uuid.UUID) -> tuple[int, int, int, int]:
    o = uow.stored(order_id)
    return (o.authorized_minor, o.captured_minor, o.invoiced_minor, o.refunded_minor)


def test_a_shipped_order_paid_later_at_shopify_has_its_invoice_captured_and_refunds() -> None:
    uow = FakeUnitOfWork()
    order_id = shopify_order(uow)  # financial_status authorized
    ship_all(uow, order_id)
    assert figures(uow, order_id) == (TOTAL, 0, TOTAL, 0)

    applied = deliver(uow, "orders/updated", later(financial_status="paid"))

    assert applied.state == "applied"
    assert payments(uow, order_id) == [(CAPTURE, PAID_TX, TOTAL)]
    assert figures(uow, order_id) == (TOTAL, TOTAL, TOTAL, 0)
    assert uow.stored(order_id).payment["status"] == "paid"
    assert "payment.recorded" in uow.event_types()
    assert deliver(uow, "refunds/create", doc("refunds_create_partial")).state == "applied"
    assert figures(uow, order_id) == (TOTAL, TOTAL, TOTAL, 3678)
    assert broken(uow, order_id) == []


def test_the_same_paid_version_again_is_stale_and_writes_nothing() -> None:
    uow = FakeUnitOfWork()
    order_id = shopify_order(uow)
    ship_all(uow, order_id)
    deliver(uow, "orders/updated", later(financial_status="paid"))
    before = uow.state()

    assert deliver(uow, "orders/updated", later(financial_status="paid")).state == "stale"

    assert uow.state() == before


def test_an_order_paid_before_it_ships_has_its_invoice_applied_as_it_ships() -> None:
    uow = FakeUnitOfWork()
    order_id = shopify_order(uow)
    assert deliver(uow, "orders/updated", later(financial_status="paid")).state == "applied"
    assert payments(uow, order_id) == []  # nothing invoiced yet: nothing to capture
    assert uow.stored(order_id).payment["status"] == "paid"

    shipment = ship_all(uow, order_id)

    assert payments(uow, order_id) == [(CAPTURE, f"prepaid:{shipment}", TOTAL)]
    assert figures(uow, order_id) == (TOTAL, TOTAL, TOTAL, 0)
    assert broken(uow, order_id) == []


def test_a_partly_paid_order_captures_what_shopify_took_and_the_rest_once_paid() -> None:
    uow = FakeUnitOfWork()
    order_id = shopify_order(uow)
    ship_all(uow, order_id)
    deposit = later(financial_status="partially_paid", total_outstanding="26.13")

    deliver(uow, "orders/updated", deposit)

    assert payments(uow, order_id) == [(CAPTURE, PAID_TX, 3000)]  # 56.13 − 26.13
    assert uow.stored(order_id).payment["status"] == "authorized"
    # A newer version with the same amount paid: nothing more to capture.
    deliver(uow, "orders/updated", {**deposit, "updated_at": "2026-11-26T12:05:00-05:00"})
    assert len(payments(uow, order_id)) == 1
    paid = later(financial_status="paid", updated_at="2026-11-26T12:06:00-05:00")

    deliver(uow, "orders/updated", paid)

    assert [amount for *_, amount in payments(uow, order_id)] == [3000, TOTAL - 3000]
    assert figures(uow, order_id) == (TOTAL, TOTAL, TOTAL, 0)
    assert broken(uow, order_id) == []


def test_a_pending_order_paid_later_is_authorized_then_captured() -> None:
    uow = FakeUnitOfWork()
    order_id = shopify_order(uow, financial_status="pending")  # nothing secured
    ship_all(uow, order_id)
    assert figures(uow, order_id) == (0, 0, TOTAL, 0)

    deliver(uow, "orders/updated", later(financial_status="paid"))

    assert payments(uow, order_id) == [
        (AUTHORIZATION, f"{CHANNEL}:{EXTERNAL_ID}:authorization:20261126T170431.000000Z", TOTAL),
        (CAPTURE, PAID_TX, TOTAL),
    ]
    assert figures(uow, order_id) == (TOTAL, TOTAL, TOTAL, 0)
    assert broken(uow, order_id) == []


def test_a_later_version_still_authorized_records_no_payment() -> None:
    uow = FakeUnitOfWork()
    order_id = shopify_order(uow)
    ship_all(uow, order_id)

    deliver(uow, "orders/updated", later())

    assert payments(uow, order_id) == []
    assert figures(uow, order_id) == (TOTAL, 0, TOTAL, 0)


def test_a_woocommerce_order_pending_then_processing_is_authorized_and_captured() -> None:
    fixture = Path(__file__).parent.parent / "fixtures" / "woocommerce" / "order-pending.json"
    pending = json.loads(fixture.read_bytes())
    stock = [{"sku": s, "location": "WH", "set_on_hand": 20} for s in ("TEE-M-BLK", "TOTE-NAT")]
    uow = FakeUnitOfWork()
    adjust_inventory(uow, AdjustInventory.model_validate({"adjustments": stock}))

    def apply(document: dict[str, Any]) -> str:
        commands = woocommerce.commands_of(json.dumps(document).encode(), "order.updated")
        with uow:
            applied = apply_delivery(uow, commands, channel="woo")
            uow.commit()
        return applied.state

    apply(pending)
    order_id = uow.channel_sync.order_id("woo", str(pending["id"]))
    assert order_id is not None
    ship_all(uow, order_id)
    assert figures(uow, order_id) == (0, 0, 6393, 0)  # pending: nothing secured

    processing = {
        **pending,
        "status": "processing",
        "date_paid_gmt": "2026-11-26T11:00:00",
        "date_modified_gmt": "2026-11-26T11:00:00",
    }
    assert apply(processing) == "applied"

    assert [(kind, amount) for kind, _, amount in payments(uow, order_id)] == [
        (AUTHORIZATION, 6393),
        (CAPTURE, 6393),
    ]
    assert payments(uow, order_id)[1][1] == f"woo:{pending['id']}:capture:20261126T110000.000000Z"
    assert figures(uow, order_id) == (6393, 6393, 6393, 0)
    assert broken(uow, order_id) == []
