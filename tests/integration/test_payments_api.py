"""POST /v1/payments against real PostgreSQL: capture per shipment and up front, the
refusal above what was authorized, one payment per platform transaction id."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from tests.integration.conftest import Keys
from tests.integration.money_flows import broken, counts, money, placed, post, shipped, unpaid


def invoices(engine: sa.Engine, order_id: str) -> list[tuple[str, int, int, int]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT shipment_id::text, net_minor, tax_minor, shipping_minor"
                " FROM financial_documents WHERE order_id = :o AND kind = 'invoice'"
                " ORDER BY created_at"
            ),
            {"o": order_id},
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


async def test_each_shipment_is_invoiced_and_captured_on_its_own(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    order = await placed(client, keys, "PAY-1")
    first = await shipped(client, keys, order["id"], 1, "T1")
    second = await shipped(client, keys, order["id"], 2, "T2")
    # One invoice row per shipment: the first unit's shares and the shipping, then the rest.
    assert invoices(engine, order["id"]) == [(first, 999, 231 + 113, 490), (second, 2000, 460, 0)]
    assert unpaid(engine, order["id"]) == 1833 + 2460

    status, body = await post(
        client,
        "/v1/payments",
        keys.erp,
        order_id=order["id"],
        kind="capture",
        transaction_id="CAP-1",
        amount="18.33",
        shipment_id=first,
    )
    assert status == 201, body
    assert (body["kind"], body["amount"], body["shipment_id"]) == ("capture", "18.33", first)
    await post(
        client,
        "/v1/payments",
        keys.erp,
        order_id=order["id"],
        kind="capture",
        transaction_id="CAP-2",
        amount="24.60",
        shipment_id=second,
    )
    assert await money(client, keys, order["id"]) == {
        "authorized": "42.93",
        "captured": "42.93",
        "refunded": "0.00",
        "invoiced": "42.93",
        "credited": "0.00",
    }
    assert unpaid(engine, order["id"]) == 0 and broken(engine, order["id"]) == []
    ledger = await client.get(f"/v1/orders/{order['id']}/deliveries", headers=Keys.bearer(keys.erp))
    erp = [d["event_type"] for d in (await ledger.json())["destinations"]["erp"]]
    assert erp == ["order.accepted"] + ["shipment.dispatched"] * 2 + ["payment.recorded"] * 2


async def test_an_order_paid_up_front_is_captured_as_it_ships_without_a_capture(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    order = await placed(client, keys, "PAY-2", status="paid")
    shipment = await shipped(client, keys, order["id"], 1, "T1")
    figures = await money(client, keys, order["id"])
    assert (figures["authorized"], figures["captured"], figures["invoiced"]) == (
        "42.93",
        "18.33",
        "18.33",
    )
    with engine.connect() as conn:
        applied = conn.execute(
            sa.text("SELECT kind, source, shipment_id::text, amount_minor FROM payments")
        ).all()
    assert [tuple(p) for p in applied] == [("capture", "prepaid", shipment, 1833)]
    assert unpaid(engine, order["id"]) == 0 and broken(engine, order["id"]) == []
    status, body = await post(
        client,
        "/v1/payments",
        keys.erp,
        order_id=order["id"],
        kind="capture",
        transaction_id="CAP-X",
        amount="0.01",
        shipment_id=shipment,
    )
    assert status == 409, body  # nothing left to capture of that invoice


async def test_a_capture_above_what_was_authorized_is_a_409_naming_both_and_writes_nothing(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    order = await placed(client, keys, "PAY-3", status="pending")  # nothing authorized
    shipment = await shipped(client, keys, order["id"], 3, "T1")
    before = counts(engine)
    status, body = await post(
        client,
        "/v1/payments",
        keys.erp,
        order_id=order["id"],
        kind="capture",
        transaction_id="CAP-1",
        amount="10.00",
        shipment_id=shipment,
    )
    assert status == 409, body
    assert (body["authorized"], body["captured"]) == ("0.00", "0.00")
    assert "above what was authorized" in body["detail"]
    assert counts(engine) == before

    status, _ = await post(
        client,
        "/v1/payments",
        keys.erp,
        order_id=order["id"],
        kind="authorization",
        transaction_id="AUTH-1",
        amount="42.93",
    )
    assert status == 201
    status, _ = await post(
        client,
        "/v1/payments",
        keys.erp,
        order_id=order["id"],
        kind="capture",
        transaction_id="CAP-1",
        amount="42.93",
        shipment_id=shipment,
    )
    assert status == 201 and broken(engine, order["id"]) == []


async def test_the_same_payment_again_is_a_200_and_a_reused_id_a_409(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    order = await placed(client, keys, "PAY-4")
    void = {"order_id": order["id"], "kind": "void", "transaction_id": "V-1", "amount": "2.00"}
    status, first = await post(client, "/v1/payments", keys.erp, **void)
    assert status == 201
    before = counts(engine)
    status, again = await post(client, "/v1/payments", keys.admin, **{**void, "amount": "2.0"})
    assert (status, again["id"]) == (200, first["id"])
    status, other = await post(client, "/v1/payments", keys.erp, **{**void, "amount": "3.00"})
    assert status == 409 and other["payment_id"] == first["id"]
    assert counts(engine) == before
    assert (await money(client, keys, order["id"]))["authorized"] == "40.93"


async def test_a_channel_records_payments_of_its_own_orders_only(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    order = await placed(client, keys, "PAY-5")
    body = {"order_id": order["id"], "kind": "void", "transaction_id": "V-1", "amount": "1.00"}
    status, _ = await post(client, "/v1/payments", keys.pos, **body)
    assert status == 403
    status, made = await post(client, "/v1/payments", keys.web, **body)
    assert status == 201 and made["source"] == "channel:web"
    status, bad = await post(client, "/v1/payments", keys.web, **{**body, "amount": "0.001"})
    assert status == 422, bad
    status, bad = await post(client, "/v1/payments", keys.web, **{**body, "kind": "capture"})
    assert status == 422, bad  # a capture names its shipment
