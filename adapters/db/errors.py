"""Driver errors are converted once, here: nothing above adapters/db sees psycopg or sqlite3."""

from __future__ import annotations

from sqlalchemy import exc

from domain.errors import ConcurrencyConflict

# deadlock_detected, serialization_failure, lock_not_available
_RETRYABLE_SQLSTATES = {"40P01", "40001", "55P03"}


class PersistenceError(Exception):
    """The database failed."""


class DatabaseUnavailable(PersistenceError):
    """The database cannot be reached."""


def convert(error: exc.DBAPIError) -> Exception:
    """The project's error for a driver error (retryable conflicts become ConcurrencyConflict)."""
    orig = error.orig
    sqlstate = getattr(orig, "sqlstate", None)
    message = str(orig)
    if sqlstate in _RETRYABLE_SQLSTATES or "database is locked" in message:
        # "database is locked": SQLite's busy timeout ran out.
        return ConcurrencyConflict()
    unreachable = (sqlstate or "").startswith("08") or (
        # psycopg raises OperationalError without a SQLSTATE when it cannot connect.
        isinstance(error, exc.OperationalError)
        and type(orig).__module__.startswith("psycopg")
        and sqlstate is None
    )
    if unreachable or "unable to open database" in message:
        return DatabaseUnavailable(f"the database cannot be reached: {type(orig).__name__}")
    return PersistenceError(f"database error {sqlstate or ''}: {type(orig).__name__}: {message}")
