"""Money through the whole real stack: part of an order ships, its capture arrives, part of
it is refunded; the ERP simulator, which prices every document itself, holds the invoice,
the payment and exactly one credit memo with the right net/tax split, and refuses a
hand-posted document that would break its books."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.processes import wait_until
from tests.e2e.stack import Stack, stocked
from tests.factories import order_doc

pytestmark = pytest.mark.e2e


def by_type(stack: Stack, system: str, kind: str) -> list[dict[str, Any]]:
    return [d for d in stack.documents(system)["documents"] if d["type"] == kind]


def posted(stack: Stack, path: str, **body: Any) -> dict[str, Any]:
    response = stack.admin("POST", path, json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_partial_refund_one_credit_memo_with_the_right_tax_split(stack: Stack) -> None:
    stack.up(ship_after=None)  # shipments come from this test
    stocked(stack, "A")
    doc = order_doc("MONEY-1", [("A", 3)])
    doc["lines"][0].update(discount="0.01", tax="6.91")  # tax a unit: 2.31, 2.30, 2.30
    doc["totals"] = {"grand_total": "42.93"}
    doc["payment"] = {"method": "card", "status": "authorized", "amount": "42.93"}
    order = stack.order(doc)
    shipment = posted(
        stack,
        "/v1/shipments",
        order_id=order["id"],
        location="WH-EAST",
        carrier="DHL",
        tracking_number="MONEY-T1",
        lines=[{"sku": "A", "quantity": 2}],
    )
    # The first two units (9.99 + 10.00, tax 2.31 + 2.30) and the shipping (4.90 + 1.13).
    posted(
        stack,
        "/v1/payments",
        order_id=order["id"],
        kind="capture",
        transaction_id="PSP-CAP-1",
        amount="30.63",
        shipment_id=shipment["id"],
    )
    refund = posted(
        stack,
        "/v1/refunds",
        order_id=order["id"],
        transaction_id="PSP-REF-1",
        kind="partial",
        lines=[{"line_no": 1, "quantity": 1}],
        reason="scratched",
    )
    wait_until(
        lambda: len(by_type(stack, "erp", "credit_memo")) == 1 and stack.settled(),
        60,
        "the credit memo at the ERP and every delivery applied",
    )

    [invoice] = by_type(stack, "erp", "invoice")
    assert invoice["body"]["amounts"]["total"] == "30.63"
    [payment] = by_type(stack, "erp", "payment")
    assert (payment["body"]["kind"], payment["body"]["amount"]) == ("capture", "30.63")
    [memo] = by_type(stack, "erp", "credit_memo")
    body = memo["body"]
    # The first shipped unit: 10.00 less its cent of discount, and its 2.31 of tax.
    assert (body["net"], body["tax"], body["shipping"], body["total"]) == (
        "9.99",
        "2.31",
        "0.00",
        "12.30",
    )
    assert body["lines"] == [
        {"line_no": 1, "sku": "A", "quantity": 1, "net": "9.99", "discount": "0.01", "tax": "2.31"}
    ]
    assert body["credit_memo_ref"] == refund["id"] and memo["duplicates"] == 0
    [told] = by_type(stack, "channels", "refund")
    assert (told["channel"], told["body"]["amount"]) == ("web", "12.30")

    listed = httpx.get(f"{stack.sim}/erp/sales-orders", timeout=5).json()["items"]
    [held] = [so for so in listed if so["order_ref"] == order["id"]]
    assert held["money"] == {
        "authorized": "42.93",
        "captured": "30.63",
        "refunded": "12.30",
        "invoiced": "30.63",
    }
    assert [m["total"] for m in held["credit_memos"]] == ["12.30"]

    # The ERP's own books: invoiced − credited = 18.33 left; a credit memo above it is refused.
    too_much = {
        "order_ref": order["id"],
        "credit_memo_ref": "by-hand",
        "currency": "EUR",
        "net": "18.00",
        "tax": "0.34",
        "shipping": "0.00",
        "shipping_tax": "0.00",
        "total": "18.34",
        "lines": [],
    }
    refused = httpx.post(
        f"{stack.sim}/erp/credit-memos",
        json=too_much,
        headers={"Idempotency-Key": "by-hand-1"},
        timeout=5,
    )
    assert refused.status_code == 422, refused.text
    assert "above what was invoiced and not credited: 18.33" in refused.json()["detail"]
    capture = {
        "order_ref": order["id"],
        "payment_ref": "by-hand",
        "kind": "capture",
        "currency": "EUR",
        "amount": "12.31",  # 42.93 authorized, 30.63 captured: 12.30 is all that is left
    }
    refused = httpx.post(
        f"{stack.sim}/erp/payments", json=capture, headers={"Idempotency-Key": "by-hand-2"}
    )
    assert refused.status_code == 422, refused.text
    assert len(by_type(stack, "erp", "credit_memo")) == 1
