"""adapters/inbox.py, the one apply path, with kinds of its own: what it does when a kind's
interpret fails — for now (its channel's API), for good (a bad document), or by a bug —
and when two appliers reach one delivery."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import pytest
import sqlalchemy as sa

from adapters.channels import CHANNELS, woocommerce
from adapters.channels.kind import ChannelKinds
from adapters.channels.webhook import InboundRequest, Receipt
from adapters.db import inbound, registry
from adapters.inbox import MAX_ATTEMPTS, Inbox
from adapters.systems.errors import TransientError
from ops.wiring import ROUTING
from tests.integration.test_woocommerce_door import fixture


def kinds_with(interpret: Any) -> ChannelKinds:
    """The product's kinds, WooCommerce's interpret replaced."""
    webhook = replace(woocommerce.WEBHOOK, interpret=interpret)
    own = replace(woocommerce.KIND, webhook=webhook)
    return ChannelKinds(*(own if name == "woocommerce" else CHANNELS[name] for name in CHANNELS))


@pytest.fixture
def row(engine: sa.Engine) -> int:
    with engine.begin() as conn:
        registry.add_channel(conn, "woo", "woocommerce")
        delivery, _ = inbound.store(
            conn,
            channel="woo",
            kind="woocommerce",
            delivery_id="d-1",
            topic="order.updated",
            headers={"X-WC-Webhook-Topic": "order.updated"},
            body=fixture("order-created.json"),
            verification="hmac-sha256",
        )
    return delivery


def stored(engine: sa.Engine, delivery: int) -> inbound.StoredDelivery:
    with engine.connect() as conn:
        found = inbound.get(conn, delivery)
    assert found is not None
    return found


def inbox(engine: sa.Engine, interpret: Any) -> Inbox:
    return Inbox(engine, ROUTING, lambda channel: None, kinds=kinds_with(interpret))


def test_a_channel_api_failing_for_now_leaves_it_received_then_parks_it(
    engine: sa.Engine, row: int
) -> None:
    def down(receipt: Receipt, request: InboundRequest, client: Any) -> list[Any]:
        raise TransientError("channel:woo", "timed out")

    applier = inbox(engine, down)
    assert applier.apply(row) == "received"
    assert (stored(engine, row).state, stored(engine, row).attempts) == ("received", 1)
    assert stored(engine, row).error == "channel:woo: timed out"
    for _ in range(MAX_ATTEMPTS - 2):
        applier.apply(row)
    assert applier.apply(row) == "parked"
    assert stored(engine, row).error == f"after {MAX_ATTEMPTS} attempts: channel:woo: timed out"


def test_a_bug_in_a_kinds_interpret_parks_it_with_the_error(engine: sa.Engine, row: int) -> None:
    def broken(receipt: Receipt, request: InboundRequest, client: Any) -> list[Any]:
        return [None]  # not a command: the applier trips over it

    assert inbox(engine, broken).apply(row) == "parked"
    assert (stored(engine, row).error or "").startswith("AttributeError:")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM orders")).scalar_one() == 0


def test_two_appliers_of_one_delivery_apply_it_once(engine: sa.Engine, row: int) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO skus (sku) VALUES ('TEE-M-BLK'), ('TOTE-NAT')"))
    applier = Inbox(engine, ROUTING, lambda channel: None)
    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(lambda _: applier.apply(row), range(4)))
    assert outcomes.count("applied") == 1
    assert set(outcomes) <= {"applied", None}
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM orders")).scalar_one() == 1
    assert stored(engine, row).attempts == 1
