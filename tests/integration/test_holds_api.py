"""Holds over HTTP against real PostgreSQL: a screened order is held with its stock
reserved and nothing for the WMS; a release sends the WMS its allocation; the timeline
shows every change with its cause, its events and their deliveries."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from adapters.db.hold_rules import add_rule
from tests.factories import order_doc
from tests.integration.conftest import Keys, stock


def destinations(engine: sa.Engine, order_id: str) -> list[tuple[str, str]]:
    """(event type, destination) of every outbox row of the order, in outbox order."""
    with engine.connect() as conn:
        return [
            (row.event_type, row.destination)
            for row in conn.execute(
                sa.text(
                    "SELECT e.event_type, d.destination FROM outbox_events e"
                    " JOIN outbox_deliveries d USING (event_id)"
                    " WHERE e.aggregate_type = 'order' AND e.aggregate_id = :id"
                    " ORDER BY e.id, d.destination"
                ),
                {"id": order_id},
            )
        ]


def rule(engine: sa.Engine, kind: str, value: str | None = None, channel: str | None = None) -> int:
    with engine.begin() as conn:
        return int(add_rule(conn, kind, channel=channel, value=value, created_by="test")["id"])


async def post_order(client: Any, keys: Keys, doc: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/v1/orders", json=doc, headers=Keys.bearer(keys.web))
    body = await response.json()
    assert response.status == 201, body
    return dict(body)


@pytest.fixture
async def held(client: Any, keys: Keys, engine: sa.Engine) -> dict[str, Any]:
    """An order over the web channel's threshold: held, 2 of A reserved at WH-EAST."""
    await stock(client, keys, {"sku": "A", "location": "WH-EAST", "set_on_hand": 5})
    rule(engine, "amount_over", "20.00 EUR", channel="web")
    rule(engine, "amount_over", "1.00 EUR", channel="pos")  # another channel's: no reason
    return await post_order(client, keys, order_doc("HOLD-1", [("A", 2)]))


async def test_a_held_order_reserves_its_stock_and_no_outbox_row_goes_to_the_wms(
    client: Any, keys: Keys, engine: sa.Engine, held: dict[str, Any]
) -> None:
    assert held["status"] == "on_hold"
    [reason] = held["holds"]
    assert reason.startswith("amount_over: 26.03 EUR is over 20.00 EUR (rule ")
    assert held["reservations"][0]["quantity"] == 2
    inventory = await (await client.get("/v1/inventory/A", headers=Keys.bearer(keys.web))).json()
    assert inventory["locations"][0]["reserved"] == 2

    rows = destinations(engine, held["id"])
    assert ("order.held", "channel:web") in rows
    assert [d for _, d in rows if d == "wms"] == []
    assert {t for t, _ in rows} == {"order.accepted", "order.held"}


async def test_a_release_sends_the_wms_the_allocation_once_and_a_second_is_a_conflict(
    client: Any, keys: Keys, engine: sa.Engine, held: dict[str, Any]
) -> None:
    url = f"/v1/orders/{held['id']}/release"
    response = await client.post(url, json={"reason": "checked"}, headers=Keys.bearer(keys.erp))
    body = await response.json()
    assert response.status == 200, body
    assert (body["status"], body["holds"], body["version"]) == ("allocated", [], 2)
    rows = destinations(engine, held["id"])
    assert rows[-2:] == [("order.released", "channel:web"), ("order.allocated", "wms")]

    again = await client.post(url, json={}, headers=Keys.bearer(keys.admin))
    problem = await again.json()
    assert again.status == 409, problem
    assert "not on hold" in problem["detail"]
    assert destinations(engine, held["id"]) == rows  # nothing more written


async def test_a_release_takes_no_body_and_only_a_system_or_the_admin_may_send_it(
    client: Any, keys: Keys, held: dict[str, Any]
) -> None:
    url = f"/v1/orders/{held['id']}/release"
    forbidden = await client.post(url, json={}, headers=Keys.bearer(keys.web))
    assert forbidden.status == 403
    response = await client.post(url, headers=Keys.bearer(keys.admin))
    assert response.status == 200, await response.text()


async def test_releasing_an_order_that_is_not_held_is_a_409_and_an_unknown_one_404(
    client: Any, keys: Keys
) -> None:
    await stock(client, keys, {"sku": "A", "location": "WH-EAST", "set_on_hand": 5})
    order = await post_order(client, keys, order_doc("FREE-1", [("A", 1)]))
    assert order["status"] == "allocated"
    response = await client.post(
        f"/v1/orders/{order['id']}/release", json={}, headers=Keys.bearer(keys.erp)
    )
    assert response.status == 409
    assert response.content_type == "application/problem+json"
    for order_id in (str(uuid.uuid4()), "not-a-uuid"):
        missing = await client.post(
            f"/v1/orders/{order_id}/release", json={}, headers=Keys.bearer(keys.erp)
        )
        assert missing.status == 404


async def test_a_shipment_reported_for_a_held_order_is_a_409_and_changes_nothing(
    client: Any, keys: Keys, engine: sa.Engine, held: dict[str, Any]
) -> None:
    response = await client.post(
        "/v1/shipments",
        json={
            "order_id": held["id"],
            "location": "WH-EAST",
            "carrier": "DHL",
            "tracking_number": "JD-HELD",
            "lines": [{"sku": "A", "quantity": 2}],
        },
        headers=Keys.bearer(keys.erp),
    )
    assert response.status == 409
    assert "on hold" in (await response.json())["detail"]
    inventory = await (await client.get("/v1/inventory/A", headers=Keys.bearer(keys.web))).json()
    assert inventory["locations"][0]["on_hand"] == 5


async def test_a_stock_shrink_of_a_held_order_sends_the_wms_nothing_and_the_release_sends_it(
    client: Any, keys: Keys, engine: sa.Engine, held: dict[str, Any]
) -> None:
    await stock(client, keys, {"sku": "A", "location": "WH-EAST", "set_on_hand": 1})
    assert [d for _, d in destinations(engine, held["id"]) if d == "wms"] == []
    response = await client.post(
        f"/v1/orders/{held['id']}/release", json={}, headers=Keys.bearer(keys.erp)
    )
    body = await response.json()
    assert body["status"] == "partially_allocated"
    assert [t for t, d in destinations(engine, held["id"]) if d == "wms"] == [
        "order.allocated",
        "order.backordered",
    ]


async def test_the_timeline_has_every_change_with_its_cause_events_and_deliveries(
    client: Any, keys: Keys, engine: sa.Engine, held: dict[str, Any]
) -> None:
    order_id = held["id"]
    await stock(client, keys, {"sku": "A", "location": "WH-EAST", "set_on_hand": 1})  # shrink
    release = await client.post(
        f"/v1/orders/{order_id}/release",
        json={"reason": "paid"},
        headers={**Keys.bearer(keys.erp), "X-Correlation-ID": "corr-release-1"},
    )
    assert release.status == 200
    shipped = await client.post(
        "/v1/shipments",
        json={
            "order_id": order_id,
            "location": "WH-EAST",
            "carrier": "DHL",
            "tracking_number": "JD-T1",
            "lines": [{"sku": "A", "quantity": 1}],
        },
        headers=Keys.bearer(keys.erp),
    )
    assert shipped.status == 201
    with engine.begin() as conn:  # as if the relay had published one delivery
        conn.execute(
            sa.text(
                "UPDATE outbox_deliveries SET published_at = now(), status = 'published',"
                " attempts = 1, last_error = 'a blip' WHERE destination = 'wms'"
            )
        )

    response = await client.get(f"/v1/orders/{order_id}/timeline", headers=Keys.bearer(keys.web))
    body = await response.json()
    assert response.status == 200, body
    assert body["order_id"] == order_id
    entries = body["entries"]
    assert [(e["command"], e["version"], e["status_from"], e["status_to"]) for e in entries] == [
        ("place", 1, None, "on_hold"),
        ("reallocate", 2, "on_hold", "on_hold"),
        ("release", 3, "on_hold", "partially_allocated"),
        ("ship", 4, "partially_allocated", "partially_fulfilled"),
    ]
    place, shrink, released, ship = entries
    assert place["caller"] == "channel:web"
    assert place["detail"] == {"holds": held["holds"]}
    assert [e["event_type"] for e in place["events"]] == ["order.accepted", "order.held"]
    assert shrink["caller"] == "admin:admin" and shrink["events"] == []  # held: nothing out
    assert (released["caller"], released["correlation_id"]) == ("system:erp", "corr-release-1")
    assert released["detail"] == {"reason": "paid", "holds": held["holds"]}
    assert [e["event_type"] for e in released["events"]] == [
        "order.released",
        "order.allocated",
        "order.backordered",
    ]
    allocated = released["events"][1]
    [wms] = allocated["deliveries"]
    assert wms["destination"] == "wms"
    assert (wms["status"], wms["attempts"], wms["last_error"]) == ("published", 1, "a blip")
    assert wms["published_at"] is not None and wms["applied_at"] is None
    accepted = place["events"][0]
    assert [d["destination"] for d in accepted["deliveries"]] == ["channel:web", "crm", "erp"]
    assert all(d["status"] == "pending" and "last_error" not in d for d in accepted["deliveries"])
    assert [e["event_type"] for e in ship["events"]] == ["shipment.dispatched"]


async def test_a_channel_reads_only_its_own_orders_timeline_and_unknown_ids_are_404(
    client: Any, keys: Keys, held: dict[str, Any]
) -> None:
    other = await client.get(f"/v1/orders/{held['id']}/timeline", headers=Keys.bearer(keys.pos))
    assert other.status == 403
    system = await client.get(f"/v1/orders/{held['id']}/timeline", headers=Keys.bearer(keys.erp))
    assert system.status == 200
    for order_id in (str(uuid.uuid4()), "nope"):
        missing = await client.get(
            f"/v1/orders/{order_id}/timeline", headers=Keys.bearer(keys.admin)
        )
        assert missing.status == 404
        assert missing.content_type == "application/problem+json"


def test_a_process_reads_a_channels_rules_at_most_once_per_ttl(engine: sa.Engine) -> None:
    """The API's cache of the rules: within its ttl a rule added elsewhere is not seen yet
    (no round trip per order), after it the rule screens the next order."""
    from adapters.db.hold_rules import CachedHoldRules

    cached, fresh = CachedHoldRules(ttl=3600), CachedHoldRules(ttl=0)
    with engine.connect() as conn:
        assert cached(conn, "web") == fresh(conn, "web") == []
    added = rule(engine, "country_mismatch")  # for every channel
    with engine.connect() as conn:
        assert cached(conn, "web") == []  # within its ttl
        assert [r.id for r in fresh(conn, "web")] == [added]  # past it
        assert [r.id for r in cached(conn, "pos")] == [added]  # not read yet: read now
