"""Driver errors are converted once, here: nothing above adapters/db sees psycopg.

Classification is by exception type and attributes (SQLSTATE, SQLAlchemy's
`connection_invalidated`), never by the driver's wording: the wording changes
between versions and languages (lc_messages), the codes do not.
"""

from __future__ import annotations

import psycopg
from sqlalchemy import exc

from domain.errors import ConcurrencyConflict

# deadlock_detected, serialization_failure, lock_not_available
_RETRYABLE_SQLSTATES = {"40P01", "40001", "55P03"}
# SQLSTATE classes that say "the server cannot serve this request now", whatever the statement:
# 08 connection exception, 57 operator intervention (admin_shutdown, crash_shutdown,
# cannot_connect_now, query_canceled…), 53 insufficient resources (too_many_connections,
# disk_full, out_of_memory). A retry later may succeed; the request itself was not wrong.
_UNAVAILABLE_CLASSES = {"08", "53", "57"}

# Everything a database call can raise: the driver's errors, raw or wrapped by SQLAlchemy,
# and SQLAlchemy's own (pool timeout, invalidated transaction…).
DATABASE_ERRORS: tuple[type[Exception], ...] = (exc.SQLAlchemyError, psycopg.Error)


class PersistenceError(Exception):
    """The database failed."""


class DatabaseUnavailable(PersistenceError):
    """The database cannot be reached."""


def server_gone(orig: BaseException) -> bool:
    """True if this driver error means the session is lost: the connection must not be reused.

    psycopg raises OperationalError without a SQLSTATE for libpq's own failures (connection
    refused, server closed the connection unexpectedly, lost synchronization): no server
    sent an error, the socket failed. Class 08, and the FATAL 57P0x (admin_shutdown,
    crash_shutdown, cannot_connect_now, database_dropped, idle_session_timeout) end the session.
    """
    if not isinstance(orig, psycopg.OperationalError):
        return False
    sqlstate = orig.sqlstate
    return sqlstate is None or sqlstate.startswith(("08", "57P"))


def unreachable(orig: BaseException) -> bool:
    """True if this driver error means the database cannot serve us now (→ 503, retry later)."""
    if server_gone(orig):
        return True
    sqlstate = getattr(orig, "sqlstate", None)
    if not isinstance(orig, psycopg.Error) or not sqlstate:
        return False
    return sqlstate[:2] in _UNAVAILABLE_CLASSES


def _retryable(orig: BaseException) -> bool:
    return getattr(orig, "sqlstate", None) in _RETRYABLE_SQLSTATES


def convert(error: BaseException) -> Exception:
    """The project's error for a database error (one of DATABASE_ERRORS).

    Retryable conflicts become ConcurrencyConflict; anything meaning the database cannot be
    reached (a lost or refused connection, a pool that gives none) becomes
    DatabaseUnavailable; the rest PersistenceError.
    """
    orig = error.orig if isinstance(error, exc.DBAPIError) else error
    if orig is not None and _retryable(orig):
        return ConcurrencyConflict()
    if (
        (isinstance(error, exc.DBAPIError) and error.connection_invalidated)
        # The pool gave no connection in time (every one busy, e.g. hanging on a dead
        # server), or a pre-ping/checkout found the connection dead.
        or isinstance(error, exc.TimeoutError | exc.DisconnectionError)
        # Core raises it when the connection under an open transaction was invalidated
        # (a disconnect) and the transaction is used again.
        or isinstance(error, exc.PendingRollbackError)
        or (orig is not None and unreachable(orig))
    ):
        return DatabaseUnavailable(f"the database cannot be reached: {_describe(orig or error)}")
    return PersistenceError(f"database error: {_describe(orig or error)}")


def _describe(error: BaseException) -> str:
    sqlstate = getattr(error, "sqlstate", None)
    return f"{type(error).__name__}{f' [{sqlstate}]' if sqlstate else ''}: {error}"
