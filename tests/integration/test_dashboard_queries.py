"""The dashboard's numbers over a seeded database (tests/dashboard_seed.py): each panel's
figures are exactly what the seed put there."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from adapters.http.keys import HttpConfig
from ops.dashboard import compliance, delays, overview
from ops.dashboard.order_view import order_view
from tests.dashboard_seed import Seeded, seed
from tests.integration.conftest import ADMIN_TOKEN
from tests.integration.live import serve

pytestmark = pytest.mark.integration


@pytest.fixture
def seeded(engine: sa.Engine) -> Iterator[Seeded]:
    with serve(engine, HttpConfig(admin_token=ADMIN_TOKEN)) as base_url:
        yield seed(engine, base_url, ADMIN_TOKEN)


def now() -> datetime:
    return datetime.now(UTC)


def test_orders_are_counted_per_channel_and_state(engine: sa.Engine, seeded: Seeded) -> None:
    with engine.connect() as conn:
        assert overview.orders_by_channel(conn) == {
            "shop2": {"fulfilled": 1},
            "web": {"allocated": 2, "backordered": 2},
        }


def test_delayed_orders_are_the_old_unallocated_one_and_the_one_with_a_late_delivery(
    engine: sa.Engine, seeded: Seeded
) -> None:
    with engine.connect() as conn:
        delayed = delays.delayed_orders(conn, now())
    assert delayed["count"] == 2
    assert [str(o["id"]) for o in delayed["orders"]] == [
        seeded.orders["WEB-3"],  # the oldest first
        seeded.orders["SHOP-1"],
    ]
    web3, shop1 = delayed["orders"]
    assert web3["why"] == ["backordered, not allocated"]
    assert shop1["why"] == ["shipment.dispatched to channel:shop2 published"]
    # Per currency, never added across: WEB-3 is 16.03 EUR, SHOP-1 26.03 USD.
    assert delayed["money_at_risk"] == {"EUR": Decimal("16.03"), "USD": Decimal("26.03")}
    (late,) = delayed["late_deliveries"]
    assert (late["id"], late["order_id"]) == (
        seeded.late_delivery_id,
        uuid.UUID(seeded.orders["SHOP-1"]),
    )
    assert delayed["late_delivery_count"] == 1 and delayed["late_capped"] is False


def test_an_order_is_delayed_only_once_past_the_unallocated_threshold(
    engine: sa.Engine, seeded: Seeded
) -> None:
    """WEB-4 is backordered too, but recent; two hours earlier, WEB-3 was not late yet
    (and neither was the shipment, whose event is only ten minutes old)."""
    with engine.connect() as conn:
        earlier = delays.delayed_orders(conn, now() - timedelta(hours=2))
        later = delays.delayed_orders(conn, now() + timedelta(hours=5))
        days_on = delays.delayed_orders(conn, now() + timedelta(days=2))
    assert earlier["count"] == 0 and earlier["money_at_risk"] == {}
    # Five hours on, WEB-4 is late too (and 36.03 EUR more at risk).
    assert later["count"] == 3
    assert later["money_at_risk"] == {"EUR": Decimal("52.06"), "USD": Decimal("26.03")}
    # A delivery published and never applied is looked for within the window only (the
    # actor applies, parks or dead-letters what it gets): days on, SHOP-1 is not listed.
    assert days_on["count"] == 2 and days_on["late_delivery_count"] == 0


def test_the_outbox_lag_is_what_is_unpublished_per_destination(
    engine: sa.Engine, seeded: Seeded
) -> None:
    with engine.connect() as conn:
        lag = overview.outbox_lag(conn, now())
    assert {row["destination"]: row["backlog"] for row in lag} == dict(seeded.unpublished)
    assert all(0 <= row["oldest_unpublished_s"] < 120 for row in lag)


def test_dead_letters_are_counted_per_destination_until_resolved(
    engine: sa.Engine, seeded: Seeded
) -> None:
    with engine.connect() as conn:
        assert overview.dead_letters_by_destination(conn) == {"wms": 1}
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE dead_letters SET requeued_at = now()"))
    with engine.connect() as conn:
        assert overview.dead_letters_by_destination(conn) == {}


def test_slo_compliance_counts_journeys_met_late_and_overdue(
    engine: sa.Engine, seeded: Seeded
) -> None:
    with engine.connect() as conn:
        found = {o["name"]: o for o in compliance.compliance(conn, now())}
    inventory, shipment = found["inventory_sync"], found["shipment_update"]
    assert (inventory["met"], inventory["late"], inventory["overdue"]) == (1, 1, 0)
    assert (inventory["share"], inventory["ok"]) == (0.5, False)
    assert (shipment["met"], shipment["late"], shipment["overdue"]) == (0, 0, 1)
    assert (shipment["share"], shipment["ok"]) == (0.0, False)
    assert found["refund_processing"]["share"] is None  # no refund: nothing to count
    assert found["order_acknowledgment"]["measured"] is False
    # Minutes on, the superseded stock figures (never applied) are still no journey late.
    with engine.connect() as conn:
        on = {o["name"]: o for o in compliance.compliance(conn, now() + timedelta(minutes=3))}
    assert (on["inventory_sync"]["met"], on["inventory_sync"]["overdue"]) == (1, 0)


def test_the_destinations_list_every_system_and_channel_with_its_breaker(
    engine: sa.Engine, seeded: Seeded
) -> None:
    with engine.connect() as conn:
        listed = {row["destination"]: row["state"] for row in overview.destinations(conn)}
    assert {"erp", "wms", "crm", "channel:web", "channel:shop2"} <= set(listed)
    assert set(listed.values()) == {"closed"}


def test_the_order_view_has_every_delivery_its_dead_letter_and_its_trace(
    engine: sa.Engine, seeded: Seeded
) -> None:
    order_id = uuid.UUID(seeded.orders["WEB-2"])
    with engine.connect() as conn:
        view = order_view(conn, order_id)
        ledger = conn.execute(
            sa.text("SELECT count(*) FROM outbox_deliveries WHERE aggregate_id = :a"),
            {"a": str(order_id)},
        ).scalar_one()
        assert order_view(conn, uuid.uuid4()) is None
    assert view is not None
    assert view["order"]["external_id"] == "WEB-2"
    assert view["deliveries"] == ledger > 0
    (letter,) = view["dead_letters"]
    assert (letter["id"], letter["destination"], letter["state"]) == (
        seeded.dead_letter_id,
        "wms",
        "unresolved",
    )
    statuses = {
        d["destination"]: d["status"]
        for entry in view["entries"]
        for event in entry["events"]
        for d in event["deliveries"]
        if event["event_type"] == letter["event_type"]
    }
    assert statuses["wms"] == "dead"
