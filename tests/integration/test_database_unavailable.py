"""The unit of work and the engine when PostgreSQL goes away: each way the failure arrives
(a dropped socket, a refused connect, a terminated backend, a database that refuses
connections, a failure at COMMIT) becomes DatabaseUnavailable, writes nothing, and a dead
connection is never handed out again."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
import sqlalchemy as sa

from adapters.db import registry
from adapters.db.engine import make_engine, raw_postgres_dsn
from adapters.db.errors import DatabaseUnavailable
from adapters.db.uow import SqlUnitOfWork
from domain.commands import PlaceOrder
from domain.services import place_order
from ops.wiring import ROUTING
from tests.factories import order_doc
from tests.netcut import NetCut, via

pytestmark = pytest.mark.integration


@pytest.fixture
def proxied(database_url: str, cut: NetCut, engine: sa.Engine) -> Iterator[sa.Engine]:
    """An engine that reaches the test database through the proxy; stock for SKU A."""
    with engine.begin() as conn:
        registry.add_channel(conn, "web", "canonical")
        registry.add_location(conn, "WH", "warehouse", 10)
        conn.execute(sa.text("INSERT INTO skus (sku) VALUES ('A')"))
        conn.execute(sa.text("INSERT INTO stock (sku, location, on_hand) VALUES ('A', 'WH', 100)"))
    proxied = make_engine(via(database_url, cut), pool_size=4)
    yield proxied
    proxied.dispose()


def _pid(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())


def _order(external_id: str) -> PlaceOrder:
    return PlaceOrder.model_validate(order_doc(external_id, [("A", 1)]))


def _orders(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM orders")).scalar_one())


def test_a_connection_dropped_mid_transaction_is_unavailable(
    proxied: sa.Engine, cut: NetCut
) -> None:
    with pytest.raises(DatabaseUnavailable), SqlUnitOfWork(proxied, routing=ROUTING) as uow:
        uow.inventory.lock(["A"])
        cut.cut()
        uow.inventory.lock(["A"])
    cut.restore()
    assert _pid(proxied) > 0  # the pool gives a working connection again


def test_a_refused_connect_is_unavailable(proxied: sa.Engine, cut: NetCut) -> None:
    cut.cut()
    with pytest.raises(DatabaseUnavailable):
        place_order(SqlUnitOfWork(proxied, routing=ROUTING), _order("R-1"), channel="web")
    cut.restore()
    _, created = place_order(SqlUnitOfWork(proxied, routing=ROUTING), _order("R-1"), channel="web")
    assert created


def test_a_failure_inside_commit_is_unavailable_and_writes_nothing(
    proxied: sa.Engine, cut: NetCut, engine: sa.Engine
) -> None:
    def channels_then_cut(conn: sa.Connection) -> list[str]:
        # Called while the outbox rows are written, just before COMMIT: the order, its
        # lines, reservations and stock are already sent in this transaction.
        cut.cut()
        return registry.active_channel_names(conn)

    with pytest.raises(DatabaseUnavailable):
        place_order(
            SqlUnitOfWork(proxied, routing=ROUTING, channels=channels_then_cut),
            _order("C-1"),
            channel="web",
        )
    assert _orders(engine) == 0
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT reserved FROM stock")).scalar_one() == 0
        assert conn.execute(sa.text("SELECT count(*) FROM outbox_events")).scalar_one() == 0
    cut.restore()
    assert place_order(SqlUnitOfWork(proxied, routing=ROUTING), _order("C-1"), channel="web")[1]


def test_after_an_outage_no_dead_connection_is_handed_out_twice(
    proxied: sa.Engine, cut: NetCut
) -> None:
    # Four connections in the pool, then the server "goes away" and comes back.
    held = [proxied.connect() for _ in range(4)]
    for conn in held:
        conn.execute(sa.text("SELECT 1"))
        conn.close()
    cut.cut()
    cut.restore()
    # Without pre-ping the first request meets a dead connection (503). That failure
    # invalidates it and recycles the rest of the pool: every later request succeeds.
    with pytest.raises(DatabaseUnavailable), SqlUnitOfWork(proxied, routing=ROUTING) as uow:
        uow.inventory.lock(["A"])
    accepted = cut.accepted
    for n in range(6):
        _, created = place_order(
            SqlUnitOfWork(proxied, routing=ROUTING), _order(f"P-{n}"), channel="web"
        )
        assert created
    assert cut.accepted > accepted  # on new connections


def test_a_terminated_backend_is_unavailable_and_replaced(
    database_url: str, engine: sa.Engine
) -> None:
    own = make_engine(database_url, pool_size=2)
    try:
        pid = _pid(own)
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})  # 57P01
        with pytest.raises(DatabaseUnavailable), SqlUnitOfWork(own, routing=ROUTING) as uow:
            uow.inventory.lock(["A"])
        assert _pid(own) != pid
    finally:
        own.dispose()


def test_a_database_not_accepting_connections_is_unavailable(
    database_url: str, postgres_admin_url: str
) -> None:
    own = make_engine(database_url, pool_size=2)
    name = sa.make_url(database_url).database
    admin = psycopg.connect(raw_postgres_dsn(postgres_admin_url), autocommit=True)
    try:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')  # type: ignore[arg-type]
        with pytest.raises(DatabaseUnavailable) as raised, SqlUnitOfWork(own, routing=ROUTING):
            pass
        # The engine marks a failed connect as a disconnect, whatever its SQLSTATE.
        assert isinstance(raised.value.__cause__, sa.exc.DBAPIError)
        assert raised.value.__cause__.connection_invalidated
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')  # type: ignore[arg-type]
        with SqlUnitOfWork(own, routing=ROUTING) as uow:
            assert uow.inventory.lock(["nothing"]) == {}
    finally:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')  # type: ignore[arg-type]
        admin.close()
        own.dispose()
