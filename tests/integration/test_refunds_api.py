"""POST /v1/refunds against real PostgreSQL: one credit memo per refund, split exactly,
never above what was captured, once per platform transaction id."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from tests.integration.conftest import Keys
from tests.integration.money_flows import broken, counts, money, placed, post, shipped


async def captured(client: Any, keys: Keys, external_id: str, quantity: int) -> str:
    """An order of 3 × A, `quantity` shipped in one parcel and captured in full."""
    order = await placed(client, keys, external_id)
    shipment = await shipped(client, keys, order["id"], quantity, "T1")
    with_shipping = {1: "18.33", 3: "42.93"}[quantity]
    status, body = await post(
        client,
        "/v1/payments",
        keys.erp,
        order_id=order["id"],
        kind="capture",
        transaction_id=f"CAP-{external_id}",
        amount=with_shipping,
        shipment_id=shipment,
    )
    assert status == 201, body
    return str(order["id"])


def memos(engine: sa.Engine, order_id: str) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT net_minor, tax_minor, shipping_minor, shipping_tax_minor, total_minor"
                " FROM financial_documents WHERE order_id = :o AND kind = 'credit_memo'"
                " ORDER BY created_at"
            ),
            {"o": order_id},
        )
        return [tuple(row) for row in rows]


async def test_a_partial_refund_of_units_credits_their_exact_shares(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    order_id = await captured(client, keys, "REF-1", 3)
    status, body = await post(
        client,
        "/v1/refunds",
        keys.erp,
        order_id=order_id,
        transaction_id="R-1",
        kind="partial",
        lines=[{"line_no": 1, "quantity": 2}],
        reason="damaged in transit",
    )
    assert status == 201, body
    memo = body["credit_memo"]
    assert (memo["net"], memo["tax"], memo["shipping"], memo["total"]) == (
        "19.99",
        "4.61",
        "0.00",
        "24.60",
    )
    assert memo["lines"] == [
        {"line_no": 1, "sku": "A", "quantity": 2, "net": "19.99", "discount": "0.01", "tax": "4.61"}
    ]
    assert memos(engine, order_id) == [(1999, 461, 0, 0, 2460)]
    figures = await money(client, keys, order_id)
    assert (figures["refunded"], figures["credited"]) == ("24.60", "24.60")
    assert broken(engine, order_id) == []


async def test_shipping_only_and_goodwill_refunds_each_have_a_credit_memo(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    order_id = await captured(client, keys, "REF-2", 1)  # 18.33 invoiced and captured
    status, shipping = await post(
        client, "/v1/refunds", keys.erp, order_id=order_id, transaction_id="R-S", kind="shipping"
    )
    assert status == 201, shipping
    status, goodwill = await post(
        client,
        "/v1/refunds",
        keys.erp,
        order_id=order_id,
        transaction_id="R-G",
        kind="goodwill",
        amount="5.00",
        reason="sorry",
    )
    assert status == 201, goodwill
    # Shipping 4.90 + 1.13; goodwill 5.00 split as what is left invoiced: net 9.99, tax 2.31.
    assert memos(engine, order_id) == [(0, 113, 490, 113, 603), (406, 94, 0, 0, 500)]
    status, again = await post(
        client, "/v1/refunds", keys.erp, order_id=order_id, transaction_id="R-S2", kind="shipping"
    )
    assert status == 409, again
    assert broken(engine, order_id) == []


async def test_a_refund_above_what_was_captured_is_a_409_and_writes_nothing(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    order = await placed(client, keys, "REF-3")
    await shipped(client, keys, order["id"], 3, "T1")  # 42.93 invoiced, nothing captured
    before = counts(engine)
    status, body = await post(
        client,
        "/v1/refunds",
        keys.erp,
        order_id=order["id"],
        transaction_id="R-1",
        kind="goodwill",
        amount="0.01",
    )
    assert status == 409, body
    assert (body["captured"], body["refunded"]) == ("0.00", "0.00")
    assert counts(engine) == before


async def test_the_same_refund_again_is_a_200_and_a_reused_id_a_409(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    order_id = await captured(client, keys, "REF-4", 3)
    body = {"order_id": order_id, "transaction_id": "R-1", "kind": "partial", "amount": "3.00"}
    status, first = await post(client, "/v1/refunds", keys.erp, **body)
    assert status == 201
    before = counts(engine)
    status, again = await post(client, "/v1/refunds", keys.erp, **{**body, "amount": "3"})
    assert (status, again["id"], again["credit_memo"]) == (200, first["id"], first["credit_memo"])
    status, other = await post(client, "/v1/refunds", keys.erp, **{**body, "amount": "4.00"})
    assert status == 409 and other["refund_id"] == first["id"]
    assert counts(engine) == before


async def test_refunds_of_the_wrong_shape_or_of_no_such_return_change_nothing(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    order_id = await captured(client, keys, "REF-5", 3)
    before = counts(engine)
    bad = [
        {"kind": "partial"},  # neither lines nor amount
        {"kind": "goodwill"},
        {"kind": "return"},
        {"kind": "return", "return_id": str(uuid.uuid4())},
        {"kind": "partial", "lines": [{"line_no": 9, "quantity": 1}]},
        {"kind": "partial", "lines": [{"line_no": 1, "quantity": 4}]},
        {"kind": "partial", "amount": "1.001"},
        {"kind": "goodwill", "amount": "1.00", "currency": "USD"},
    ]
    statuses = []
    for i, shape in enumerate(bad):
        status, _ = await post(
            client, "/v1/refunds", keys.erp, order_id=order_id, transaction_id=f"B{i}", **shape
        )
        statuses.append(status)
    assert statuses == [422, 422, 422, 404, 422, 409, 422, 422]
    assert counts(engine) == before
