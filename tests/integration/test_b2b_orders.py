"""B2B terms through the real app and PostgreSQL: accepted, stored, shown; refused (422,
nothing written) when bad or past; and carried to the ERP's sales order by the ERP actor's
own handler, from the outbox row, into the simulated ERP."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from actors.clients import SystemClients
from actors.systems import SYSTEMS
from adapters.db import registry
from simulators.app import init_sim_app
from simulators.server import ServerThread
from tests.db_state import every_row
from tests.factories import B2B_TERMS, CONTRACT_ORDER
from tests.integration.conftest import Keys, stock
from tests.outbox_rows import envelopes


@pytest.fixture
def portal(engine: sa.Engine) -> str:
    """A B2B portal channel's key."""
    with engine.begin() as conn:
        return registry.add_channel(conn, "portal", "b2b")


def b2b_order(external_id: str = "PO-ORDER-1", **terms: Any) -> dict[str, Any]:
    document = copy.deepcopy(CONTRACT_ORDER)
    document["external_id"] = external_id
    document["b2b"] = {**B2B_TERMS, **terms}
    return document


async def test_terms_go_in_with_the_order_and_come_back_on_every_read(
    client: Any, keys: Keys, portal: str, engine: sa.Engine
) -> None:
    await stock(client, keys, {"sku": "TEE-M-BLK", "location": "WH-EAST", "set_on_hand": 10})
    posted = await client.post("/v1/orders", json=b2b_order(), headers=Keys.bearer(portal))
    body = await posted.json()
    assert posted.status == 201, body
    assert body["b2b"] == B2B_TERMS
    read = await client.get(f"/v1/orders/{body['id']}", headers=Keys.bearer(portal))
    assert (await read.json())["b2b"] == B2B_TERMS
    found = await client.get(
        "/v1/orders", params={"external_id": "PO-ORDER-1"}, headers=Keys.bearer(portal)
    )
    assert [o["b2b"] for o in (await found.json())["items"]] == [B2B_TERMS]
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT b2b FROM orders WHERE id = :i"), {"i": body["id"]})
        assert stored.scalar_one() == B2B_TERMS
    # The same order again is the stored one; on other terms it is another order's content.
    again = await client.post("/v1/orders", json=b2b_order(), headers=Keys.bearer(portal))
    assert (again.status, (await again.json())["id"]) == (200, body["id"])
    other = await client.post(
        "/v1/orders", json=b2b_order(payment_terms_days=60), headers=Keys.bearer(portal)
    )
    assert (other.status, (await other.json())["type"]) == (
        409,
        "urn:ordersync:problem:duplicate-mismatch",
    )


async def test_a_consumer_order_shows_no_terms(client: Any, keys: Keys) -> None:
    await stock(client, keys, {"sku": "TEE-M-BLK", "location": "WH-EAST", "set_on_hand": 10})
    posted = await client.post("/v1/orders", json=CONTRACT_ORDER, headers=Keys.bearer(keys.web))
    assert (await posted.json())["b2b"] is None


async def test_any_channel_may_send_terms(client: Any, keys: Keys) -> None:
    """Decided: terms are the order's, not the channel kind's (a web shop sells on account
    too); a B2B portal's order without terms is accepted as well."""
    await stock(client, keys, {"sku": "TEE-M-BLK", "location": "WH-EAST", "set_on_hand": 10})
    posted = await client.post("/v1/orders", json=b2b_order(), headers=Keys.bearer(keys.web))
    assert posted.status == 201
    assert (await posted.json())["b2b"]["purchase_order"] == "PO-2026-0042"


@pytest.mark.parametrize(
    ("terms", "field"),
    [
        ({"requested_delivery_date": "2020-01-31"}, "b2b.requested_delivery_date"),
        ({"requested_delivery_date": "2099-13-01"}, "b2b.requested_delivery_date"),
        ({"payment_terms_days": -30}, "b2b.payment_terms_days"),
        ({"purchase_order": ""}, "b2b.purchase_order"),
    ],
    ids=["past", "no-such-date", "negative-terms", "empty-po"],
)
async def test_bad_or_past_terms_are_a_422_naming_the_field_and_write_nothing(
    client: Any, keys: Keys, portal: str, engine: sa.Engine, terms: dict[str, Any], field: str
) -> None:
    await stock(client, keys, {"sku": "TEE-M-BLK", "location": "WH-EAST", "set_on_hand": 10})
    before = every_row(engine)
    response = await client.post("/v1/orders", json=b2b_order(**terms), headers=Keys.bearer(portal))
    problem = await response.json()
    assert response.status == 422, problem
    assert response.content_type == "application/problem+json"
    assert [e["field"] for e in problem["errors"]] == [field]
    assert every_row(engine) == before


@pytest.fixture
def sim() -> Iterator[str]:
    with ServerThread(init_sim_app(seed=1)) as server:
        yield server.url


async def test_the_erp_sales_order_carries_the_terms(
    client: Any, keys: Keys, portal: str, engine: sa.Engine, sim: str
) -> None:
    await stock(client, keys, {"sku": "TEE-M-BLK", "location": "WH-EAST", "set_on_hand": 10})
    posted = await client.post("/v1/orders", json=b2b_order(), headers=Keys.bearer(portal))
    order_id = (await posted.json())["id"]
    [accepted] = [e for e in envelopes(engine, "erp") if e.event_type == "order.accepted"]
    assert accepted.payload["b2b"] == B2B_TERMS

    clients = SystemClients.create(engine, SYSTEMS.urls_at(sim))
    try:
        clients.applier("erp")(accepted)  # what the ERP actor does with the message
    finally:
        clients.close()

    state = httpx.get(f"{sim}/_sim/erp/state").json()
    [held] = [so for so in state["sales_orders"] if so["order_ref"] == order_id]
    assert held["order"]["terms"] == {
        "customer_po": "PO-2026-0042",
        "account": "ACME-001",
        "payment_terms_days": 30,
        "requested_delivery_date": "2099-12-15",
    }


async def test_the_simulated_erp_refuses_terms_without_a_po(sim: str) -> None:
    from actors.erp import sales_order_document
    from tests.integration.test_system_clients import accepted

    document = sales_order_document(accepted())
    document["terms"] = {"customer_po": "", "account": "ACME-001"}
    response = httpx.post(
        f"{sim}/erp/sales-orders", json=document, headers={"Idempotency-Key": "k-1"}
    )
    assert response.status_code == 422 and "terms.customer_po" in response.text
