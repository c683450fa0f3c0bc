"""Engines for PostgreSQL (psycopg 3) and the embedded SQLite file."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import event


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


SQLITE_POOL = 8


def make_engine(url: str, *, pool_size: int = 20) -> sa.Engine:
    """An engine with our settings; SQLite gets WAL and BEGIN IMMEDIATE (one writer at a time)."""
    if is_sqlite(url):
        # SQLite has one writer at a time (BEGIN IMMEDIATE); WAL lets readers run beside it.
        engine = sa.create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=SQLITE_POOL,
            max_overflow=0,
            pool_timeout=60,
        )
        _sqlite_setup(engine)
        return engine
    # No pre-ping: it costs a round trip on every checkout. A connection the server
    # dropped fails its first statement instead, and SQLAlchemy then invalidates the
    # pool (the request gets a 503 and the next one a fresh connection).
    return sa.create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800)


def _sqlite_setup(engine: sa.Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        # Take the write lock up front: a deferred transaction that reads and then
        # writes fails with SQLITE_BUSY instead of waiting.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def raw_postgres_dsn(url: str) -> str:
    """The libpq form of a SQLAlchemy URL (postgresql+psycopg://… → postgresql://…)."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)
