"""The delivery ledger: a row per event and destination, gapless sequences, trace context."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from typing import Any

import pytest
import sqlalchemy as sa

from outbox.partition import PARTITIONS, partition_of
from tests.factories import order_doc
from tests.integration.conftest import Keys, stock


def events(engine: sa.Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM outbox_events ORDER BY id")).mappings()
        return [dict(row) for row in rows]


def deliveries(engine: sa.Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT d.*, e.id AS event_row_id FROM outbox_deliveries d"
                " JOIN outbox_events e USING (event_id) ORDER BY e.id, d.destination"
            )
        ).mappings()
        return [dict(row) for row in rows]


# Where each stored event must go, written out by hand (the `keys` fixture's channels are
# pos and web): (event type, origin channel) → destinations, sorted.
EXPECTED_DESTINATIONS: dict[tuple[str, str | None], list[str]] = {
    ("order.accepted", "web"): ["channel:web", "crm", "erp"],
    ("order.accepted", "pos"): ["channel:pos", "crm", "erp"],
    ("order.allocated", "web"): ["wms"],
    ("order.allocated", "pos"): ["wms"],
    ("order.backordered", "web"): ["channel:web", "wms"],
    ("order.backordered", "pos"): ["channel:pos", "wms"],
    ("shipment.dispatched", "web"): ["channel:web", "erp"],
    ("shipment.dispatched", "pos"): ["channel:pos", "erp"],
    # The orders' one customer, made by the first (from either channel): to the CRM.
    ("customer.updated", "web"): ["crm"],
    ("customer.updated", "pos"): ["crm"],
    # A stock figure goes to every channel, whoever caused the change.
    ("inventory.changed", None): ["channel:pos", "channel:web"],
    ("inventory.changed", "web"): ["channel:pos", "channel:web"],
    ("inventory.changed", "pos"): ["channel:pos", "channel:web"],
}


def expected_destinations(event: dict[str, Any]) -> list[str]:
    return EXPECTED_DESTINATIONS[(event["event_type"], event["channel"])]


async def order(client: Any, key: str, external_id: str, lines: list[tuple[str, int]]) -> Any:
    response = await client.post(
        "/v1/orders", json=order_doc(external_id, lines), headers=Keys.bearer(key)
    )
    body = await response.json()
    assert response.status == 201, body
    return body


async def adjust(client: Any, keys: Keys, *adjustments: dict[str, Any]) -> None:
    response = await client.post(
        "/v1/inventory/adjustments",
        json={"adjustments": list(adjustments)},
        headers=Keys.bearer(keys.erp),
    )
    assert response.status == 200, await response.text()


@pytest.fixture
async def history(client: Any, keys: Keys) -> dict[str, Any]:
    """Stock, orders from both channels (multi-line, split, backordered), then a shrink."""
    await stock(
        client,
        keys,
        {"sku": "A", "location": "WH-EAST", "set_on_hand": 5},
        {"sku": "A", "location": "STORE-LIS", "set_on_hand": 2},
        {"sku": "B", "location": "WH-WEST", "set_on_hand": 3},
        {"sku": "C", "location": "WH-EAST", "set_on_hand": 0},
    )
    placed = {
        "W1": await order(client, keys.web, "W1", [("A", 2), ("B", 1)]),
        "P1": await order(client, keys.pos, "P1", [("A", 4)]),
        "W2": await order(client, keys.web, "W2", [("A", 1), ("C", 1)]),
        "P2": await order(client, keys.pos, "P2", [("C", 2)]),
    }
    assert [placed[k]["status"] for k in ("W1", "P1", "W2", "P2")] == [
        "allocated",
        "allocated",
        "partially_allocated",
        "backordered",
    ]
    # WH-EAST holds 5 reserved (W1 2, P1 3): shrinking it to 1 takes the newest back.
    await adjust(client, keys, {"sku": "A", "location": "WH-EAST", "set_on_hand": 1})
    await adjust(
        client,
        keys,
        {"sku": "B", "location": "WH-WEST", "delta": 4},
        {"sku": "C", "location": "WH-WEST", "set_on_hand": 5},
        {"sku": "B", "location": "WH-WEST", "delta": -1},
    )
    placed["P3"] = await order(client, keys.pos, "P3", [("B", 2), ("C", 1), ("A", 1)])
    return placed


async def test_every_event_has_exactly_one_delivery_per_routed_destination(
    engine: sa.Engine, history: dict[str, Any]
) -> None:
    by_event: dict[uuid.UUID, list[str]] = defaultdict(list)
    for row in deliveries(engine):
        by_event[row["event_id"]].append(row["destination"])
    stored = events(engine)
    assert len(stored) >= 20
    # The history covers every order event type from both channels, and stock changes
    # made by the admin or ERP (no channel) and by each channel's orders.
    assert {(e["event_type"], e["channel"]) for e in stored} == set(EXPECTED_DESTINATIONS) - {
        ("shipment.dispatched", "web"),
        ("shipment.dispatched", "pos"),
        ("customer.updated", "pos"),  # W1, from web, made it
    }
    for event in stored:
        assert sorted(by_event.pop(event["event_id"], [])) == expected_destinations(event), event
    assert not by_event  # no delivery without its event


async def test_destinations_follow_the_routing_table_per_event_type_and_channel(
    engine: sa.Engine, history: dict[str, Any]
) -> None:
    seen: dict[tuple[str, str], list[str]] = {}
    with engine.connect() as conn:
        for event_type, aggregate_id, found in conn.execute(
            sa.text(
                "SELECT e.event_type, e.aggregate_id,"
                " array_agg(d.destination ORDER BY d.destination)"
                " FROM outbox_events e JOIN outbox_deliveries d USING (event_id)"
                " GROUP BY e.id, e.event_type, e.aggregate_id"
            )
        ):
            seen[(event_type, aggregate_id)] = found
    w1, p1, p2 = history["W1"]["id"], history["P1"]["id"], history["P2"]["id"]
    assert seen[("order.accepted", w1)] == ["channel:web", "crm", "erp"]
    assert seen[("order.accepted", p1)] == ["channel:pos", "crm", "erp"]
    assert seen[("order.allocated", w1)] == ["wms"]
    assert seen[("order.backordered", p2)] == ["channel:pos", "wms"]
    # P2 was placed backordered; the stock that arrived later filled it (the backorder
    # fill), and that allocation went to the WMS only.
    assert seen[("order.allocated", p2)] == ["wms"]
    for sku in ("A", "B", "C"):
        assert seen[("inventory.changed", sku)] == ["channel:pos", "channel:web"]


async def test_sequences_run_from_one_without_gaps_in_event_order_per_aggregate_and_destination(
    engine: sa.Engine, history: dict[str, Any]
) -> None:
    streams: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    for row in deliveries(engine):  # in event row id order
        streams[(row["aggregate_type"], row["aggregate_id"], row["destination"])].append(
            row["sequence"]
        )
    for key, sequences in streams.items():
        assert sequences == list(range(1, len(sequences) + 1)), key
    # A's ATP moved with the stock and with W1, P1 and W2 (not with the shrink: ATP was 0
    # before and after); P1 was shrunk, so its WMS stream has a second allocation event.
    assert streams[("sku", "A", "channel:web")] == [1, 2, 3, 4]
    assert len(streams[("order", history["P1"]["id"], "wms")]) >= 2
    with engine.connect() as conn:
        counters = {
            (t, a, d): n
            for t, a, d, n in conn.execute(
                sa.text(
                    "SELECT aggregate_type, aggregate_id, destination, last_sequence"
                    " FROM outbox_sequences"
                )
            )
        }
    assert counters == {key: len(seqs) for key, seqs in streams.items()}


async def test_aggregate_versions_step_once_per_committed_change(
    engine: sa.Engine, history: dict[str, Any]
) -> None:
    versions: dict[tuple[str, str], list[int]] = defaultdict(list)
    for event in events(engine):
        versions[(event["aggregate_type"], event["aggregate_id"])].append(
            event["aggregate_version"]
        )
    for (aggregate_type, aggregate_id), seen in versions.items():
        if aggregate_type == "sku":  # one inventory.changed per committed change of the SKU
            assert seen == list(range(1, len(seen) + 1)), (aggregate_id, seen)
        else:  # an order's events of one transaction share its version
            assert seen == sorted(seen) and seen[0] == 1, (aggregate_id, seen)
    assert versions[("order", history["P1"]["id"])] == [1, 1, 2, 2]


async def test_new_ledger_rows_are_pending_unpublished_generation_zero(
    engine: sa.Engine, history: dict[str, Any]
) -> None:
    rows = deliveries(engine)
    assert rows
    for row in rows:
        assert row["generation"] == 0, row
        assert row["status"] == "pending", row
        assert row["published_at"] is None and row["applied_at"] is None, row
        assert row["attempts"] == 0 and row["last_error"] is None, row
        assert row["blocked_by"] is None, row
        expected_coalesce = f"atp:{row['aggregate_id']}" if row["aggregate_type"] == "sku" else None
        assert row["coalesce_key"] == expected_coalesce, row


async def test_ledger_rows_are_written_in_their_events_transaction(
    engine: sa.Engine, history: dict[str, Any]
) -> None:
    created = {e["event_id"]: e["created_at"] for e in events(engine)}
    for row in deliveries(engine):
        assert row["created_at"] == created[row["event_id"]], row


async def test_partitions_are_in_range_and_one_per_aggregate(
    engine: sa.Engine, history: dict[str, Any]
) -> None:
    partitions: dict[tuple[str, str], set[int]] = defaultdict(set)
    for row in [*events(engine), *deliveries(engine)]:
        assert 0 <= row["partition"] < PARTITIONS, row
        partitions[(row["aggregate_type"], row["aggregate_id"])].add(row["partition"])
    assert len(partitions) == 3 + 5 + 1  # SKUs A, B, C, five orders and their customer
    for (aggregate_type, aggregate_id), found in partitions.items():
        assert found == {partition_of(aggregate_type, aggregate_id)}, (aggregate_id, found)


TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


async def test_the_trace_context_of_a_request_is_stored_on_its_outbox_rows(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    await stock(client, keys, {"sku": "A", "location": "WH-EAST", "set_on_hand": 5})
    last = max(e["id"] for e in events(engine))
    headers = {
        **Keys.bearer(keys.web),
        "traceparent": TRACEPARENT,
        "tracestate": "vendor=abc",
        "X-Correlation-ID": "corr-web-0001",
        "X-Request-ID": "req-77",
    }
    response = await client.post("/v1/orders", json=order_doc("T1", [("A", 1)]), headers=headers)
    assert response.status == 201, await response.text()
    mine = [e for e in events(engine) if e["id"] > last]
    assert [e["event_type"] for e in mine] == [
        "order.accepted",
        "order.allocated",
        "customer.updated",  # the first order of its e-mail
        "inventory.changed",
    ]
    for event in mine:
        assert event["traceparent"] == TRACEPARENT, event
        assert event["tracestate"] == "vendor=abc", event
        assert event["correlation_id"] == "corr-web-0001", event
        assert event["causation_id"] == "req-77", event

    last = mine[-1]["id"]
    other_parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    response = await client.post(
        "/v1/inventory/adjustments",
        json={"adjustments": [{"sku": "A", "location": "WH-EAST", "delta": 2}]},
        headers={
            **Keys.bearer(keys.erp),
            "traceparent": other_parent,
            "X-Correlation-ID": "corr-erp-0002",
        },
    )
    assert response.status == 200, await response.text()
    mine = [e for e in events(engine) if e["id"] > last]
    assert [(e["event_type"], e["traceparent"], e["correlation_id"]) for e in mine] == [
        ("inventory.changed", other_parent, "corr-erp-0002")
    ]


async def test_a_request_without_trace_headers_gets_a_correlation_id_of_its_own(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    await stock(client, keys, {"sku": "A", "location": "WH-EAST", "set_on_hand": 5})
    for external_id, headers in (
        ("N1", {}),
        ("N2", {"traceparent": "not-a-traceparent", "X-Correlation-ID": "bad id with spaces"}),
    ):
        last = max(e["id"] for e in events(engine))
        response = await client.post(
            "/v1/orders",
            json=order_doc(external_id, [("A", 1)]),
            headers={**Keys.bearer(keys.web), **headers},
        )
        assert response.status == 201, await response.text()
        mine = [e for e in events(engine) if e["id"] > last]
        assert len(mine) == (4 if external_id == "N1" else 3)  # N1 made the customer
        correlation = {e["correlation_id"] for e in mine}
        assert len(correlation) == 1, correlation
        uuid.UUID(correlation.pop())  # a fresh id, not the malformed one
        assert {e["traceparent"] for e in mine} == {None}


async def test_concurrent_orders_across_channels_keep_every_sequence_gapless_in_event_order(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    await stock(
        client,
        keys,
        {"sku": "A", "location": "WH-EAST", "set_on_hand": 20},
        {"sku": "B", "location": "WH-WEST", "set_on_hand": 20},
        {"sku": "A", "location": "STORE-LIS", "set_on_hand": 5},
    )
    lines = [[("A", 1), ("B", 1)], [("B", 2), ("A", 1)], [("A", 2)], [("B", 1)]]
    results = await asyncio.gather(
        *(
            client.post(
                "/v1/orders",
                json=order_doc(f"C{i}", lines[i % len(lines)]),
                headers=Keys.bearer(keys.web if i % 2 else keys.pos),
            )
            for i in range(30)
        ),
        client.post(
            "/v1/inventory/adjustments",
            json={"adjustments": [{"sku": "A", "location": "WH-EAST", "delta": -3}]},
            headers=Keys.bearer(keys.erp),
        ),
    )
    assert [r.status for r in results] == [201] * 30 + [200]
    streams: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    for row in deliveries(engine):
        streams[(row["aggregate_type"], row["aggregate_id"], row["destination"])].append(
            row["sequence"]
        )
    for key, sequences in streams.items():
        assert sequences == list(range(1, len(sequences) + 1)), key
    assert len(streams[("sku", "A", "channel:web")]) >= 10
    by_event: dict[uuid.UUID, list[str]] = defaultdict(list)
    for row in deliveries(engine):
        by_event[row["event_id"]].append(row["destination"])
    for event in events(engine):
        assert sorted(by_event[event["event_id"]]) == expected_destinations(event), event


async def test_a_shrink_that_takes_all_of_an_orders_stock_tells_the_wms(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    """The order's reservations are gone: an order.allocated with none goes to the WMS
    (which cancels what it was sent), beside the order.backordered."""
    await stock(client, keys, {"sku": "A", "location": "WH-EAST", "set_on_hand": 2})
    placed = await order(client, keys.web, "W1", [("A", 2)])
    await adjust(client, keys, {"sku": "A", "location": "WH-EAST", "set_on_hand": 0})

    mine = [e for e in events(engine) if e["aggregate_id"] == placed["id"]]
    assert [e["event_type"] for e in mine] == [
        "order.accepted",
        "order.allocated",
        "order.allocated",
        "order.backordered",
    ]
    assert mine[2]["payload"]["reservations"] == []
    assert mine[2]["aggregate_version"] == mine[3]["aggregate_version"] == 2
    wms = [d for d in deliveries(engine) if d["event_id"] == mine[2]["event_id"]]
    assert [d["destination"] for d in wms] == ["wms"]
