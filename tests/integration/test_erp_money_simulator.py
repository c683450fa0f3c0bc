"""The fake ERP's books over real HTTP: it prices each invoice from its sales order as it
now is and refuses a mismatch or what was not ordered; it refuses payments and credit memos
that would break the invariant on its side."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from simulators.app import init_sim_app
from tests.integration.test_simulators import ClientFactory, key, sales_order

pytestmark = pytest.mark.integration

Client = TestClient[Any, Any]
SHIPPING = {"method": "standard", "amount": "4.90", "tax": "1.13"}


@pytest.fixture
async def sim(aiohttp_client: ClientFactory) -> Client:
    client = await aiohttp_client(init_sim_app(seed=1))
    order = {**sales_order("o-1"), "shipping": SHIPPING}
    order["payment"] = {"method": "card", "status": "authorized", "amount": "54.98"}
    response = await client.post("/erp/sales-orders", json=order, headers=key("so"))
    assert response.status == 201
    return client


async def send(sim: Client, path: str, call: str, **body: Any) -> tuple[int, dict[str, Any]]:
    response = await sim.post(path, json=body, headers=key(call))
    return response.status, dict(await response.json())


def amounts(net: str, tax: str, shipping: str, shipping_tax: str, total: str) -> dict[str, Any]:
    return {
        "net": net,
        "tax": tax,
        "shipping": shipping,
        "shipping_tax": shipping_tax,
        "total": total,
        "lines": [
            {
                "line_no": 1,
                "sku": "TEE-M-BLK",
                "quantity": 1,
                "net": net,
                "discount": "0.00",
                "tax": str(Decimal(tax) - Decimal(shipping_tax)),
            }
        ],
    }


async def invoice(sim: Client, call: str, tracking: str, sent: Any) -> tuple[int, dict[str, Any]]:
    return await send(
        sim,
        "/erp/invoices",
        call,
        order_ref="o-1",
        shipment={"location": "WH-EAST", "carrier": "DHL", "tracking_number": tracking},
        lines=[{"line_no": 1, "sku": "TEE-M-BLK", "quantity": 1}],
        amounts=sent,
    )


async def test_invoices_priced_like_ordersync_are_taken_and_a_mismatch_is_refused(
    sim: Client,
) -> None:
    # Unit 1: 19.90 and 4.58 of the tax, with the shipping; unit 2: 19.90 and 4.57.
    status, body = await invoice(
        sim, "i-1", "T1", amounts("19.90", "5.71", "4.90", "1.13", "30.51")
    )
    assert status == 201, body
    assert (body["net"], body["tax"], body["shipping"], body["total"]) == (
        "19.90",
        "5.71",
        "4.90",
        "30.51",
    )
    status, body = await invoice(
        sim, "i-2", "T2", amounts("19.90", "4.58", "0.00", "0.00", "24.48")
    )
    assert status == 422 and "differ" in body["detail"]  # the second unit's tax is 4.57
    status, body = await invoice(
        sim, "i-3", "T2", amounts("19.90", "4.57", "0.00", "0.00", "24.47")
    )
    assert status == 201, body
    status, body = await invoice(sim, "i-4", "T3", None)
    assert status == 422 and "0 ordered and left" in body["detail"]


async def test_an_invoice_is_priced_from_the_sales_order_as_amended(sim: Client) -> None:
    amended = sales_order("o-1")
    amended["lines"][0].update(quantity=1, tax="4.58")  # one unit taken off before shipment
    await sim.post("/erp/sales-orders", json=amended, headers=key("so-2"))
    status, body = await invoice(sim, "i-1", "T1", None)
    assert status == 201 and body["total"] == "24.48"
    status, body = await invoice(sim, "i-2", "T2", None)
    assert status == 422, body  # nothing left to invoice of the amended order


async def test_captures_and_credit_memos_beyond_the_books_are_refused(sim: Client) -> None:
    await invoice(sim, "i-1", "T1", None)  # 30.51 invoiced of the 54.98 authorized
    payment = {"order_ref": "o-1", "kind": "capture", "currency": "EUR"}
    status, _ = await send(sim, "/erp/payments", "p-1", **payment, payment_ref="p1", amount="30.51")
    assert status == 201
    status, body = await send(
        sim, "/erp/payments", "p-2", **payment, payment_ref="p2", amount="24.48"
    )
    assert status == 422 and "24.47" in body["detail"]  # authorized and not captured
    memo = {
        "order_ref": "o-1",
        "currency": "EUR",
        "shipping": "0.00",
        "shipping_tax": "0.00",
        "lines": [],
    }
    status, body = await send(
        sim,
        "/erp/credit-memos",
        "c-1",
        **memo,
        credit_memo_ref="c1",
        net="25.00",
        tax="5.52",
        total="30.52",
    )
    assert status == 422 and "invoiced and not credited: 30.51" in body["detail"]
    status, body = await send(
        sim,
        "/erp/credit-memos",
        "c-2",
        **memo,
        credit_memo_ref="c2",
        net="10.00",
        tax="2.00",
        total="12.01",
    )
    assert status == 422 and "add up" in body["detail"]
    status, body = await send(
        sim,
        "/erp/credit-memos",
        "c-3",
        **{
            **memo,
            "lines": [
                {
                    "line_no": 1,
                    "sku": "TEE-M-BLK",
                    "quantity": 2,
                    "net": "1.00",
                    "discount": "0.00",
                    "tax": "0.00",
                }
            ],
        },
        credit_memo_ref="c3",
        net="1.00",
        tax="0.00",
        total="1.00",
    )
    assert status == 422 and "more units credited than invoiced" in body["detail"]
    status, _ = await send(
        sim,
        "/erp/credit-memos",
        "c-4",
        **memo,
        credit_memo_ref="c4",
        net="10.00",
        tax="2.00",
        total="12.00",
    )
    assert status == 201
    listed = await (await sim.get("/erp/sales-orders")).json()
    [held] = listed["items"]
    assert held["money"] == {
        "authorized": "54.98",
        "captured": "30.51",
        "refunded": "12.00",
        "invoiced": "30.51",
    }
    assert [p["payment_ref"] for p in held["payments"]] == ["p1"]
    assert [m["credit_memo_ref"] for m in held["credit_memos"]] == ["c4"]
