"""Engines for PostgreSQL (psycopg 3): pool, connect arguments, disconnect detection."""

from __future__ import annotations

import psycopg
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import ExceptionContext

from adapters.db.errors import server_gone


def make_engine(url: str, *, pool_size: int = 20) -> sa.Engine:
    """An engine with our settings for a postgresql+psycopg:// URL."""
    # No pre-ping: it costs a round trip on every checkout. A connection the server
    # dropped fails its first statement instead, and SQLAlchemy then invalidates the
    # pool (the request gets a 503 and the next one a fresh connection).
    engine = sa.create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=1800,
        # A setting in the URL's query (?connect_timeout=30) wins over ours.
        connect_args={
            k: v for k, v in POSTGRES_CONNECT_ARGS.items() if k not in sa.make_url(url).query
        },
    )
    event.listen(engine, "handle_error", _mark_disconnects)
    return engine


# Bounds on waiting for a server that vanished without closing its sockets (a cable pulled, a
# host gone): a connect gives up after 5 s instead of the kernel's ~2 min of SYN retries;
# keepalives find a dead connection waiting for a result, and tcp_user_timeout one with a
# statement unacknowledged, in about 30 s instead of the kernel's 2 h / 15 min. A slow query
# is not cut short: the server's kernel acknowledges it and answers the keepalives.
POSTGRES_CONNECT_ARGS = {
    "connect_timeout": 5,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 30_000,  # milliseconds
}


def _mark_disconnects(context: ExceptionContext) -> None:
    """Treat every error that means "the session is lost" as a disconnect.

    SQLAlchemy's psycopg dialect calls an error a disconnect only when psycopg has already
    marked the connection broken, and never at connect time. We decide by the error itself
    (errors.server_gone: no SQLSTATE, class 08, FATAL 57P0x), so a connection whose session
    ended is invalidated rather than given back to the pool to fail the next request; the
    rest of the pool is recycled with it (they share the server's fate), and the error
    carries `connection_invalidated`, which errors.convert reads.
    """
    orig = context.original_exception
    if context.is_pre_ping or not isinstance(orig, psycopg.OperationalError):
        return
    if context.connection is None:
        # Opening a connection failed (refused, not accepting connections, too many
        # connections): nothing to invalidate, and the pooled connections may be fine.
        context.is_disconnect = True
        context.invalidate_pool_on_disconnect = False
    elif server_gone(orig):
        context.is_disconnect = True


def raw_postgres_dsn(url: str) -> str:
    """The libpq form of a SQLAlchemy URL (postgresql+psycopg://… → postgresql://…)."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)
