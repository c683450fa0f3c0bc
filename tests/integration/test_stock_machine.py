"""Stock, orders and the outbox under random sequences of changes, on real PostgreSQL.

A hypothesis state machine places orders (two channels, one to three lines, a SKU
possibly on two lines), places the same order again, adjusts stock (set or delta, at
known locations and at a new one, sometimes below zero), records shipments (sometimes
more than is reserved) and repeats them — through the real domain services and the real
PostgreSQL unit of work. After every step it checks, with SQL against the tables (not
through the code under test):

- ATP is never negative: 0 <= reserved <= on_hand on every stock row;
- on hand is what the adjustments and shipments made it (a model kept here);
- reserved equals the open reservations of that SKU and location, and every order line's
  allocated equals its reservations, its shipped what its shipments carried;
- a refused change (a shrink below zero, a shipment beyond what is reserved) and a
  repeated one (the same order, the same tracking number) change no row at all;
- every change has its outbox rows: each order version and each SKU version has its
  events, the SKU's latest inventory.changed carries its current ATP, each shipment its
  shipment.dispatched; every event has one ledger row per destination of its type, and
  each (aggregate, destination) is numbered 1..n in event order, n its counter.

Budget: ORDERSYNC_HYPOTHESIS_PROFILE selects it — `ci` (the default: about a thousand
steps, ~20 s), `large` (by hand: ~18,000 steps, several minutes) or `mutants` (for
tests.mutants: up to 100 examples, stopping at the first failure, unshrunk), e.g.
`ORDERSYNC_HYPOTHESIS_PROFILE=large .venv/bin/pytest tests/integration/test_stock_machine.py`.

Later services extend the machine: subclass StockMachine with their rules, and give the
subclass its own `destinations` with their event types (tests/integration/
test_lifecycle_machine.py does).
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from adapters.db import registry
from adapters.db.uow import SqlUnitOfWork
from domain.commands import AdjustInventory, PlaceOrder, RecordShipment
from domain.errors import Conflict, InsufficientStock
from domain.services import adjust_inventory, place_order
from domain.shipping import record_shipment
from ops.wiring import ROUTING
from tests.db_state import DIGEST
from tests.factories import order_doc

PLACED_FROM = datetime(2026, 11, 26, 10, tzinfo=UTC)
PROFILES = {
    "ci": settings(
        max_examples=40,
        stateful_step_count=30,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    ),
    # What tests.mutants runs: more examples, but no shrinking (the first failure is all
    # it needs; shrinking one takes minutes).
    "mutants": settings(
        max_examples=100,
        stateful_step_count=30,
        deadline=None,
        phases=[Phase.explicit, Phase.reuse, Phase.generate],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    ),
    "large": settings(
        max_examples=300,
        stateful_step_count=60,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    ),
}
PROFILE = os.environ.get("ORDERSYNC_HYPOTHESIS_PROFILE", "ci")

CHANNELS = ("web", "shop")
SKUS = ("A", "B", "C")
LOCATIONS = ("WH-EAST", "WH-WEST", "STORE-LIS")
NEW_LOCATION = "POP-UP"  # unknown until an adjustment names it (created as a warehouse)

# The routing table of docs/events.md, written out here rather than read from
# outbox.routing: the test states what each event type must reach.
DESTINATIONS: dict[str, tuple[str, ...]] = {
    "order.accepted": ("erp", "crm", "origin"),
    "order.allocated": ("wms",),
    "order.backordered": ("wms", "origin"),
    "shipment.dispatched": ("erp", "origin"),
    "inventory.changed": ("all-channels",),
    "customer.updated": ("crm",),
}


def _rows(conn: sa.Connection, sql: str, **params: Any) -> list[Any]:
    return list(conn.execute(sa.text(sql), params).all())


class StockMachine(RuleBasedStateMachine):
    """Orders, stock and shipments through the real services; every check is SQL."""

    engine: ClassVar[sa.Engine]  # the test's own database (set by the test)
    # What each event type must reach; a subclass whose rules emit more event types
    # extends its own copy (never this module's, which the stock machine checks with).
    destinations: ClassVar[dict[str, tuple[str, ...]]] = DESTINATIONS

    orders = Bundle("orders")
    shipments = Bundle("shipments")

    def __init__(self) -> None:
        super().__init__()
        with self.engine.begin() as conn:
            conn.exec_driver_sql(
                "TRUNCATE shipments, reservations, order_lines, orders, stock, skus, "
                "outbox_deliveries, outbox_events, outbox_sequences, customers CASCADE"
            )
            conn.exec_driver_sql(f"DELETE FROM locations WHERE code = '{NEW_LOCATION}'")
        self.on_hand: dict[tuple[str, str], int] = {}
        self.placed = 0

    # -- helpers ------------------------------------------------------------------------

    def uow(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine, routing=ROUTING)

    def digest(self) -> dict[str, str]:
        with self.engine.connect() as conn:
            return {t: h for t, h in _rows(conn, DIGEST)}

    def adjust(self, adjustments: list[dict[str, Any]]) -> None:
        """Apply through the service; the model says whether it must be refused."""
        model = dict(self.on_hand)
        refused = False
        for a in adjustments:
            key = (a["sku"], a["location"])
            value = a["set_on_hand"] if "set_on_hand" in a else model.get(key, 0) + a["delta"]
            refused = refused or value < 0
            model[key] = value
        cmd = AdjustInventory.model_validate({"adjustments": adjustments})
        if refused:
            before = self.digest()
            try:
                adjust_inventory(self.uow(), cmd)
            except InsufficientStock:
                pass
            else:
                raise AssertionError(f"an adjustment below zero was accepted: {adjustments}")
            assert self.digest() == before, "a refused adjustment changed rows"
            return
        adjust_inventory(self.uow(), cmd)
        self.on_hand = model

    # -- rules --------------------------------------------------------------------------

    @initialize(
        levels=st.lists(
            st.tuples(st.sampled_from(SKUS), st.sampled_from(LOCATIONS), st.integers(0, 6)),
            min_size=1,
            max_size=6,
        )
    )
    def stock_up(self, levels: list[tuple[str, str, int]]) -> None:
        # Every SKU is known from the start (an order for an unknown SKU is a 422, tested
        # elsewhere); some have stock.
        adjustments = [{"sku": s, "location": "WH-EAST", "delta": 0} for s in SKUS]
        adjustments += [{"sku": s, "location": loc, "set_on_hand": n} for s, loc, n in levels]
        self.adjust(adjustments)

    @rule(
        target=orders,
        channel=st.sampled_from(CHANNELS),
        lines=st.lists(st.tuples(st.sampled_from(SKUS), st.integers(1, 4)), min_size=1, max_size=3),
    )
    def place(self, channel: str, lines: list[tuple[str, int]]) -> tuple[uuid.UUID, str, Any]:
        self.placed += 1
        doc = order_doc(f"M-{self.placed}", lines)
        # Each order a later placed_at: the backorder fill serves the oldest first, and
        # orders placed at the same time go by id, which is random; the steps drawn from
        # the reservations (ship) must not depend on it.
        doc["placed_at"] = (PLACED_FROM + timedelta(seconds=self.placed)).isoformat()
        order, created = place_order(self.uow(), PlaceOrder.model_validate(doc), channel=channel)
        assert created
        return order.id, channel, doc

    @rule(placed=orders)
    def place_again(self, placed: tuple[uuid.UUID, str, Any]) -> None:
        order_id, channel, doc = placed
        before = self.digest()
        order, created = place_order(self.uow(), PlaceOrder.model_validate(doc), channel=channel)
        assert (order.id, created) == (order_id, False)
        assert self.digest() == before, "the same order again changed rows"

    @rule(
        adjustments=st.lists(
            st.tuples(
                st.sampled_from(SKUS),
                st.sampled_from((*LOCATIONS, NEW_LOCATION)),
                st.booleans(),
                st.integers(-4, 8),
            ),
            min_size=1,
            max_size=3,
        )
    )
    def adjust_stock(self, adjustments: list[tuple[str, str, bool, int]]) -> None:
        self.adjust(
            [
                {"sku": s, "location": loc, "set_on_hand": abs(n)}
                if absolute
                else {"sku": s, "location": loc, "delta": n}
                for s, loc, absolute, n in adjustments
            ]
        )

    @rule(target=shipments, placed=orders, data=st.data())
    def ship(self, placed: tuple[uuid.UUID, str, Any], data: st.DataObject) -> Any:
        order_id = placed[0]
        with self.engine.connect() as conn:
            held = _rows(
                conn,
                "SELECT location, sku, sum(quantity) AS q FROM reservations "
                "WHERE order_id = :o GROUP BY 1, 2 ORDER BY 1, 2",
                o=order_id,
            )
        if not held:
            return None
        location = data.draw(st.sampled_from(sorted({r.location for r in held})))
        here = [r for r in held if r.location == location]
        lines = [
            {"sku": r.sku, "quantity": data.draw(st.integers(1, int(r.q)))}
            for r in here
            if data.draw(st.booleans()) or r is here[0]
        ]
        too_much = data.draw(st.integers(0, 3)) == 0  # now and then
        if too_much:  # one more than is reserved there: a conflict, nothing changes
            lines[0]["quantity"] = int(next(r.q for r in here if r.sku == lines[0]["sku"])) + 1
        self.placed += 1
        cmd = RecordShipment.model_validate(
            {
                "order_id": str(order_id),
                "location": location,
                "carrier": "DHL",
                "tracking_number": f"T-{self.placed}",
                "lines": lines,
            }
        )
        if too_much:
            before = self.digest()
            try:
                record_shipment(self.uow(), cmd)
            except Conflict:
                pass
            else:
                raise AssertionError(f"shipped more than reserved: {lines} of {here}")
            assert self.digest() == before, "a refused shipment changed rows"
            return None
        shipment, created = record_shipment(self.uow(), cmd)
        assert created
        for line in lines:
            self.on_hand[(line["sku"], location)] -= line["quantity"]
        return shipment.id, cmd

    @rule(shipped=shipments)
    def ship_again(self, shipped: Any) -> None:
        if shipped is None:
            return
        shipment_id, cmd = shipped
        before = self.digest()
        shipment, created = record_shipment(self.uow(), cmd)
        assert (shipment.id, created) == (shipment_id, False)
        assert self.digest() == before, "the same shipment again changed rows"

    def quiet_versions(self, conn: sa.Connection) -> dict[uuid.UUID, set[int]]:
        """Versions of orders that must have no event at all (none here: every change of
        these rules is told to someone)."""
        return {}

    # -- invariants (SQL against the tables) --------------------------------------------

    @invariant()
    def stock_is_consistent(self) -> None:
        with self.engine.connect() as conn:
            negative = _rows(
                conn, "SELECT * FROM stock WHERE reserved < 0 OR on_hand - reserved < 0"
            )
            assert negative == [], f"ATP below zero: {negative}"
            on_hand = {(r.sku, r.location): r.on_hand for r in _rows(conn, "SELECT * FROM stock")}
            expected = {k: v for k, v in self.on_hand.items()}
            assert {k: on_hand.get(k, 0) for k in expected} == expected
            assert all(v == 0 for k, v in on_hand.items() if k not in expected)
            mismatched = _rows(
                conn,
                """
                SELECT coalesce(s.sku, r.sku) AS sku, coalesce(s.location, r.location) AS loc,
                       s.reserved, r.q
                FROM stock s
                FULL JOIN (SELECT sku, location, sum(quantity) AS q FROM reservations
                           GROUP BY 1, 2) r ON r.sku = s.sku AND r.location = s.location
                WHERE s.reserved IS DISTINCT FROM coalesce(r.q, 0)
                """,
            )
            assert mismatched == [], f"reserved is not the open reservations: {mismatched}"

    @invariant()
    def order_lines_match_reservations_and_shipments(self) -> None:
        with self.engine.connect() as conn:
            lines = _rows(
                conn,
                """
                SELECT l.order_id, l.line_no, l.quantity, l.allocated, l.shipped,
                       coalesce((SELECT sum(quantity) FROM reservations r
                                 WHERE r.order_id = l.order_id AND r.line_no = l.line_no), 0)
                           AS held
                FROM order_lines l
                """,
            )
            for line in lines:
                assert line.allocated == line.held, f"allocated is not its reservations: {line}"
                assert line.allocated + line.shipped <= line.quantity, line
            shipped = _rows(
                conn,
                """
                SELECT o.order_id, o.sku, o.shipped, coalesce(s.q, 0) AS sent
                FROM (SELECT order_id, sku, sum(shipped) AS shipped FROM order_lines
                      GROUP BY 1, 2) o
                LEFT JOIN (SELECT order_id, x->>'sku' AS sku, sum((x->>'quantity')::int) AS q
                           FROM shipments, jsonb_array_elements(lines::jsonb) x GROUP BY 1, 2) s
                    ON s.order_id = o.order_id AND s.sku = o.sku
                WHERE o.shipped <> coalesce(s.q, 0)
                """,
            )
            assert shipped == [], f"shipped is not what the shipments carried: {shipped}"

    @invariant()
    def every_change_has_its_events(self) -> None:
        with self.engine.connect() as conn:
            # Each committed change of an order is one version with at least one event.
            orders = _rows(
                conn,
                """
                SELECT o.id, o.version,
                       array(SELECT DISTINCT e.aggregate_version FROM outbox_events e
                             WHERE e.aggregate_type = 'order' AND e.aggregate_id = o.id::text
                             ORDER BY 1) AS versions,
                       (SELECT count(*) FROM outbox_events e
                        WHERE e.aggregate_id = o.id::text AND e.event_type = 'order.accepted')
                           AS accepted
                FROM orders o
                """,
            )
            quiet = self.quiet_versions(conn)
            for o in orders:
                expected = [v for v in range(1, o.version + 1) if v not in quiet.get(o.id, ())]
                assert o.versions == expected, f"order without events: {o}"
                assert o.accepted == 1, o
            # Each SKU version is one inventory.changed, and the latest carries today's ATP.
            skus = _rows(
                conn,
                """
                SELECT k.sku, k.version,
                       (SELECT coalesce(sum(on_hand - reserved), 0) FROM stock s
                        WHERE s.sku = k.sku) AS atp,
                       array(SELECT e.aggregate_version FROM outbox_events e
                             WHERE e.aggregate_type = 'sku' AND e.aggregate_id = k.sku
                             ORDER BY 1) AS versions,
                       (SELECT (e.payload->>'atp')::int FROM outbox_events e
                        WHERE e.aggregate_type = 'sku' AND e.aggregate_id = k.sku
                        ORDER BY e.aggregate_version DESC LIMIT 1) AS announced
                FROM skus k
                """,
            )
            for k in skus:
                assert k.versions == list(range(1, k.version + 1)), f"SKU without events: {k}"
                assert (k.announced if k.version else 0) == k.atp, f"stale ATP announced: {k}"
            unannounced = _rows(
                conn,
                """
                SELECT s.id FROM shipments s WHERE (SELECT count(*) FROM outbox_events e
                    WHERE e.event_type = 'shipment.dispatched'
                      AND e.payload->>'shipment_id' = s.id::text) <> 1
                """,
            )
            assert unannounced == [], f"shipments without one shipment.dispatched: {unannounced}"
            # Each customer version is one customer.updated; every order names its customer.
            customers = _rows(
                conn,
                """
                SELECT c.id, c.version,
                       array(SELECT e.aggregate_version FROM outbox_events e
                             WHERE e.aggregate_type = 'customer' AND e.aggregate_id = c.id::text
                             ORDER BY 1) AS versions
                FROM customers c
                """,
            )
            for c in customers:
                assert c.versions == list(range(1, c.version + 1)), f"customer events: {c}"
            nameless = _rows(conn, "SELECT id FROM orders WHERE customer_id IS NULL")
            assert nameless == [], f"orders without their customer: {nameless}"
            stray = _rows(
                conn,
                "SELECT event_type, aggregate_type FROM outbox_events WHERE aggregate_type"
                " NOT IN ('order', 'sku', 'customer') OR event_type <> ALL(:known)",
                known=list(self.destinations),
            )
            assert stray == [], f"events this machine does not know (extend it): {stray}"

    @invariant()
    def every_event_has_its_ledger_rows_in_sequence(self) -> None:
        with self.engine.connect() as conn:
            channels = sorted(
                _rows(conn, "SELECT name FROM channels WHERE disabled_at IS NULL"),
            )
            names = [c.name for c in channels]
            events = _rows(
                conn,
                """
                SELECT e.event_id, e.event_type, e.channel,
                       array(SELECT d.destination FROM outbox_deliveries d
                             WHERE d.event_id = e.event_id ORDER BY 1) AS destinations
                FROM outbox_events e
                """,
            )
            for e in events:
                expected: list[str] = []
                for target in self.destinations[e.event_type]:
                    if target == "origin":
                        expected.append(f"channel:{e.channel}")
                    elif target == "all-channels":
                        expected += [f"channel:{n}" for n in names]
                    else:
                        expected.append(target)
                assert e.destinations == sorted(expected), f"ledger rows of {e}"
            gaps = _rows(
                conn,
                """
                SELECT * FROM (
                    SELECT d.destination, d.aggregate_type, d.aggregate_id, d.sequence,
                           row_number() OVER (PARTITION BY d.destination, d.aggregate_type,
                                              d.aggregate_id ORDER BY e.id) AS nth
                    FROM outbox_deliveries d JOIN outbox_events e USING (event_id)) x
                WHERE sequence <> nth
                """,
            )
            assert gaps == [], f"sequences not 1..n in event order: {gaps}"
            counters = _rows(
                conn,
                """
                SELECT s.*, d.n FROM outbox_sequences s
                FULL JOIN (SELECT destination, aggregate_type, aggregate_id, count(*) AS n
                           FROM outbox_deliveries GROUP BY 1, 2, 3) d
                    USING (destination, aggregate_type, aggregate_id)
                WHERE s.last_sequence IS DISTINCT FROM d.n
                """,
            )
            assert counters == [], f"sequence counters not the ledger's count: {counters}"
            fresh = _rows(
                conn,
                "SELECT id FROM outbox_deliveries WHERE status <> 'pending' "
                "OR published_at IS NOT NULL OR generation <> 0",
            )
            assert fresh == [], "new ledger rows are pending, unpublished, generation 0"


def test_random_orders_adjustments_and_shipments_keep_stock_and_outbox_consistent(
    engine: sa.Engine,
) -> None:
    """Any sequence of orders, stock changes and shipments keeps ATP >= 0, reserved equal
    to the open reservations, and every change with its outbox and ledger rows."""
    with engine.begin() as conn:
        for name in CHANNELS:
            registry.add_channel(conn, name, "canonical")
        for priority, code in enumerate(LOCATIONS):
            registry.add_location(conn, code, "warehouse", 10 * (priority + 1))
    machine = type("Machine", (StockMachine,), {"engine": engine})
    run_state_machine_as_test(machine, settings=PROFILES[PROFILE])
