"""Orders: the aggregate with its lines and reservations."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql.base import PGDialect

from adapters.db import mapping
from adapters.db.change_log import SqlChangeLog
from adapters.db.lifecycle_tables import order_changes
from adapters.db.tables import order_lines, orders, reservations
from domain.customers import CustomerProfile
from domain.orders import Order
from domain.ports import AddedOrder, Backorder, OrderRepository

# RETURNING makes SQLAlchemy send the rows as one multi-row INSERT (see outbox/writer.py).
_INSERT_RESERVATIONS = sa.insert(reservations).returning(reservations.c.id)
_LINES_OF = sa.select(order_lines).where(
    order_lines.c.order_id.in_(sa.bindparam("ids", expanding=True))
)
_RESERVATIONS_OF = (
    sa.select(reservations)
    .where(reservations.c.order_id.in_(sa.bindparam("ids", expanding=True)))
    .order_by(reservations.c.created_at, reservations.c.id)
)
# A line's counters (allocated, shipped, cancelled, returned): its content never changes.
_LINE_COUNTERS = ("allocated", "shipped", "cancelled", "returned")
_UPDATE_LINE = (
    sa.update(order_lines)
    .where(
        order_lines.c.order_id == sa.bindparam("b_order_id"),
        order_lines.c.line_no == sa.bindparam("b_line_no"),
    )
    .values({name: sa.bindparam(f"b_{name}") for name in _LINE_COUNTERS})
)
# ix_order_lines_backordered holds exactly these lines (the same predicate).
_BACKORDERS = (
    sa.select(
        order_lines.c.order_id,
        order_lines.c.line_no,
        order_lines.c.sku,
        (
            order_lines.c.quantity
            - order_lines.c.cancelled
            - order_lines.c.allocated
            - order_lines.c.shipped
        ).label("quantity"),
    )
    .join(orders, orders.c.id == order_lines.c.order_id)
    .where(
        order_lines.c.sku.in_(sa.bindparam("skus", expanding=True)),
        order_lines.c.allocated + order_lines.c.shipped + order_lines.c.cancelled
        < order_lines.c.quantity,
        # What the channel fulfils never waits for our stock.
        orders.c.fulfilled_by_channel.is_(False),
    )
    .order_by(orders.c.placed_at, orders.c.id, order_lines.c.line_no)
)


def load_orders(conn: sa.Connection, rows: list[sa.Row]) -> list[Order]:  # type: ignore[type-arg]
    """Orders for these order rows, with lines and reservations in two queries in all."""
    if not rows:
        return []
    ids = [r.id for r in rows]
    lines: dict[uuid.UUID, list[sa.Row]] = {i: [] for i in ids}  # type: ignore[type-arg]
    held: dict[uuid.UUID, list[sa.Row]] = {i: [] for i in ids}  # type: ignore[type-arg]
    for ln in conn.execute(_LINES_OF, {"ids": ids}):
        lines[ln.order_id].append(ln)
    for r in conn.execute(_RESERVATIONS_OF, {"ids": ids}):
        held[r.order_id].append(r)
    return [mapping.order(r, lines[r.id], held[r.id]) for r in rows]


# The change feed position of a write: its transaction id (ordered like the snapshot
# horizon the feed reads up to, adapters/db/order_queries.py).
_CHANGE_SEQ = sa.cast(sa.cast(sa.func.pg_current_xact_id(), sa.Text), sa.BigInteger)
# What a saved order writes: every column a change may move (the status and version, the
# shipping address and totals of an edit, holds, money so far…); never its identity, the
# fingerprint of what the channel sent, its B2B terms, or when it was placed and accepted.
_FIXED = frozenset(
    {"id", "channel", "external_id", "idempotency_key", "fingerprint", "placed_at"}
    | {"currency", "b2b", "created_at", "change_seq", "correlation_id"}
)
_SAVED = tuple(c for c in orders.c if c.name not in _FIXED)
_UPDATE_ORDER = (
    sa.update(orders)
    .where(orders.c.id == sa.bindparam("b_id"))
    .values(
        {c.name: sa.bindparam(f"b_{c.name}", type_=c.type) for c in _SAVED}
        | {"change_seq": _CHANGE_SEQ}
    )
)


# Every column but the feed position, which the statement computes, each with the name of
# its parameter (named once, not per order).
_ORDER_COLUMNS = tuple(c.name for c in orders.c if c.name != "change_seq")
_ORDER_PARAMS = tuple((f"o_{c}", c) for c in _ORDER_COLUMNS)
_JSON_COLUMNS = {c.name for c in orders.c if isinstance(c.type, sa.JSON)}


_POSTGRES = PGDialect()  # type: ignore[no-untyped-call]


def _recordset(table: sa.Table, defaulted: tuple[str, ...] = ()) -> tuple[str, str, str]:
    """A child table's INSERT … SELECT FROM o, jsonb_to_recordset(…) parts, from its
    columns but the `defaulted` ones (the database's to fill): the column list, the
    selected values (order_id is the new order's id) and the record's typed columns."""
    written = [c for c in table.c if c.name not in defaulted]
    columns = [c for c in written if c.name != "order_id"]
    selected = ", ".join("o.id" if c.name == "order_id" else f"x.{c.name}" for c in written)
    record = ", ".join(f"{c.name} {c.type.compile(dialect=_POSTGRES)}" for c in columns)
    return ", ".join(c.name for c in written), selected, record


_LINE_COLUMNS, _LINE_VALUES, _LINE_RECORD = _recordset(order_lines)
_HELD_COLUMNS, _HELD_VALUES, _HELD_RECORD = _recordset(reservations)
# The new order's change-log entries (adapters/db/change_log.py), in the same statement.
_CHANGE_COLUMNS, _CHANGE_VALUES, _CHANGE_RECORD = _recordset(order_changes, ("id", "at"))
# The order's customer (domain.customers), only if the order was inserted (FROM o): its id
# is derived from its e-mail, so the order row names it without reading it back, and the
# foreign key, checked at the end of the statement, finds it whatever happened here.
# - new: `customer` inserts it (version 1);
# - known, profile changed: `changed` updates it (version + 1) and locks the row;
# - known, same profile: neither writes nor locks anything, so a customer's concurrent
#   orders (a store's walk-in address, a B2B buyer) never queue on its row.
# Both read the statement's snapshot. Two first orders of one new e-mail: the second's
# insert waits on the first's primary-key entry and, once that commits, does nothing; its
# update, whose snapshot predates that row, changes nothing: one customer, one event (a
# different profile in the second would be left for its next order). The primary key is
# the table's only unique index on purpose: ON CONFLICT absorbs a race on its arbiter only.
_UPSERT_CUSTOMER = """INSERT INTO customers
        (id, email, name, phone, address, channel, version, created_at, updated_at)
    SELECT %(c_id)s, %(c_email)s, %(c_name)s, %(c_phone)s, %(c_address)s::jsonb,
        %(c_channel)s, 1, now(), now()
    FROM o
    ON CONFLICT (id) DO NOTHING
    RETURNING version
), changed AS (
    UPDATE customers SET
        name = %(c_name)s, phone = %(c_phone)s, address = %(c_address)s::jsonb,
        channel = %(c_channel)s, version = customers.version + 1, updated_at = now()
    FROM o
    WHERE customers.id = %(c_id)s
        AND (customers.name, customers.phone, customers.address)
            IS DISTINCT FROM (%(c_name)s, %(c_phone)s, %(c_address)s::jsonb)
    RETURNING customers.version"""
# The lines and reservations are inserted only if the order was (ON CONFLICT DO NOTHING
# returns no row for a duplicate): the same all-or-nothing as three statements. DO NOTHING
# without a target covers both unique keys, (channel, external_id) and (channel,
# idempotency_key); a concurrent twin waits for the first writer's commit, then sees the
# conflict.
_ORDER_VALUES = ", ".join(
    f"%(o_{c})s::jsonb" if c in _JSON_COLUMNS else f"%(o_{c})s" for c in _ORDER_COLUMNS
)
_POSTGRES_ADD = f"""
WITH o AS (
    INSERT INTO orders ({", ".join(_ORDER_COLUMNS)}, change_seq)
    VALUES ({_ORDER_VALUES},
            pg_current_xact_id()::text::bigint)
    ON CONFLICT DO NOTHING
    RETURNING id
), lines AS (
    INSERT INTO order_lines ({_LINE_COLUMNS})
    SELECT {_LINE_VALUES}
    FROM o, jsonb_to_recordset(%(lines)s::jsonb) AS x({_LINE_RECORD})
), held AS (
    INSERT INTO reservations ({_HELD_COLUMNS})
    SELECT {_HELD_VALUES}
    FROM o, jsonb_to_recordset(%(held)s::jsonb) AS x({_HELD_RECORD})
), customer AS (
    {_UPSERT_CUSTOMER}
), logged AS (
    INSERT INTO order_changes ({_CHANGE_COLUMNS})
    SELECT {_CHANGE_VALUES}
    FROM o, jsonb_to_recordset(%(changes)s::jsonb) AS x({_CHANGE_RECORD})
)
SELECT id, coalesce((SELECT version FROM customer), (SELECT version FROM changed)) FROM o
"""


def _json(value: Any) -> str:
    """A parameter the statement reads as jsonb: what is stored is the same whichever
    encoder wrote the text (a datetime is ISO 8601 with a T here, which PostgreSQL reads as
    it read str()'s space), and orjson costs a tenth of json.dumps (ten documents an
    order: most of the Python of the insert)."""
    return orjson.dumps(value, default=str).decode()


def _pg_param(value: Any) -> Any:
    return _json(value) if isinstance(value, dict | list) else value


def _address_param(order: Order, customer: CustomerProfile, params: dict[str, Any]) -> Any:
    """The customer's address as its parameter: the order's billing or shipping address
    (domain.customers.profile_of), already encoded as the order's own parameter."""
    address = customer.address
    if address is None:
        return None
    if address is order.billing_address:
        return params["o_billing_address"]
    if address is order.shipping_address:
        return params["o_shipping_address"]
    return _json(address)


class SqlOrderRepository(OrderRepository):
    def __init__(
        self,
        conn: sa.Connection,
        changes: SqlChangeLog | None = None,
        correlation_id: str | None = None,
    ) -> None:
        self.conn = conn
        self.changes = changes  # whose entries of a new order its insert writes
        self.correlation_id = correlation_id  # of the request or job this unit of work is for

    def add(self, order: Order, customer: CustomerProfile) -> AddedOrder | None:
        now = datetime.now(UTC)
        if order.correlation_id is None:
            order.correlation_id = self.correlation_id
        row = mapping.order_row(order, now)
        added = self._add_postgres(order, row, customer)
        if added is not None:
            order.created_at = order.updated_at = now
        return added

    def _add_postgres(
        self, order: Order, row: dict[str, Any], customer: CustomerProfile
    ) -> AddedOrder | None:
        """Order, lines, reservations, customer and change-log entries in one statement
        (one round trip)."""
        params = {name: _pg_param(row[c]) for name, c in _ORDER_PARAMS}
        params |= {
            "lines": _json(mapping.line_rows(order)),
            "held": _json(mapping.reservation_rows(order.reservations)),
            "c_id": customer.id,
            "c_email": customer.email,
            "c_name": customer.name,
            "c_phone": customer.phone,
            "c_address": _address_param(order, customer, params),
            "c_channel": customer.channel,
            "changes": _json(self.changes.take(order.id) if self.changes else []),
        }
        inserted = self.conn.exec_driver_sql(_POSTGRES_ADD, params).first()
        return None if inserted is None else AddedOrder(customer_version=inserted[1])

    def get(self, order_id: uuid.UUID, *, lock: bool = False) -> Order | None:
        query = sa.select(orders).where(orders.c.id == order_id)
        if lock:
            query = query.with_for_update()
        found = load_orders(self.conn, list(self.conn.execute(query)))
        return found[0] if found else None

    def find_duplicate(self, order: Order) -> Order | None:
        same = orders.c.external_id == order.external_id
        if order.idempotency_key:
            same = sa.or_(same, orders.c.idempotency_key == order.idempotency_key)
        query = sa.select(orders).where(orders.c.channel == order.channel, same)
        found = load_orders(self.conn, list(self.conn.execute(query)))
        # Up to two rows (one by external id, one by key): a differing one wins, so
        # a key reused for other content is a conflict even if the external id matches.
        return next((o for o in found if o.fingerprint != order.fingerprint), None) or (
            found[0] if found else None
        )

    def save(self, order: Order) -> None:
        now = datetime.now(UTC)
        row = mapping.order_row(order, now)
        self.conn.execute(
            _UPDATE_ORDER, {"b_id": order.id, **{f"b_{c.name}": row[c.name] for c in _SAVED}}
        )
        order.updated_at = now
        self.conn.execute(
            _UPDATE_LINE,
            [
                {
                    "b_order_id": order.id,
                    "b_line_no": ln.line_no,
                    **{f"b_{name}": getattr(ln, name) for name in _LINE_COUNTERS},
                }
                for ln in order.lines
            ],
        )
        # Reservations are few per order: rewrite them rather than diff them.
        self.conn.execute(sa.delete(reservations).where(reservations.c.order_id == order.id))
        if order.reservations:
            self.conn.execute(_INSERT_RESERVATIONS, mapping.reservation_rows(order.reservations))

    def backorders(self, skus: Sequence[str]) -> list[Backorder]:
        if not skus:
            return []
        rows = self.conn.execute(_BACKORDERS, {"skus": list(skus)})
        return [Backorder(r.order_id, r.line_no, r.sku, r.quantity) for r in rows]

    def lock_many(self, order_ids: Sequence[uuid.UUID]) -> list[Order]:
        if not order_ids:
            return []
        # FOR UPDATE after ORDER BY: the rows are locked in id order, as they are sorted.
        query = (
            sa.select(orders)
            .where(orders.c.id.in_(sorted(order_ids)))
            .order_by(orders.c.id)
            .with_for_update()
        )
        return load_orders(self.conn, list(self.conn.execute(query)))
