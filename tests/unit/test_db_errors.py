"""How database errors are classified: with the drivers' own exception objects, as raised."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import errors as pg
from sqlalchemy import exc

from adapters.db.errors import (
    DatabaseUnavailable,
    PersistenceError,
    convert,
    server_gone,
    unreachable,
)
from domain.errors import ConcurrencyConflict


def wrapped(orig: Exception, *, invalidated: bool = False) -> exc.DBAPIError:
    """`orig` as SQLAlchemy wraps it (the same call its connection makes)."""
    return exc.DBAPIError.instance(
        "SELECT 1", {}, orig, psycopg.Error, connection_invalidated=invalidated
    )


# What psycopg raises, word for word, when libpq itself fails: no SQLSTATE.
NO_SQLSTATE = [
    'connection failed: connection to server at "127.0.0.1", port 5432 failed: FATAL:  '
    'database "orders" is not currently accepting connections',
    'connection failed: connection to server at "127.0.0.1", port 5432 failed: Connection refused',
    "consuming input failed: server closed the connection unexpectedly\n\tThis probably means "
    "the server terminated abnormally\n\tbefore or while processing the request.",
    "the connection is closed",
]

UNAVAILABLE = [
    pg.AdminShutdown("terminating connection due to administrator command"),  # 57P01
    pg.CrashShutdown("terminating connection because of crash of another server process"),
    pg.CannotConnectNow("the database system is starting up"),  # 57P03
    pg.TooManyConnections("sorry, too many clients already"),  # 53300
    pg.ConnectionFailure("connection failure"),  # 08006
    pg.ConnectionException("connection exception"),  # 08000
    pg.QueryCanceled("canceling statement due to statement timeout"),  # 57014
    pg.DiskFull("could not extend file"),  # 53100
    pg.ConnectionTimeout("connection timeout expired"),  # psycopg's own, no SQLSTATE
    *(psycopg.OperationalError(text) for text in NO_SQLSTATE),
]


@pytest.mark.parametrize("orig", UNAVAILABLE, ids=lambda e: type(e).__name__)
def test_errors_meaning_the_database_is_away_become_unavailable(orig: Exception) -> None:
    assert unreachable(orig)
    assert isinstance(convert(wrapped(orig)), DatabaseUnavailable)
    assert isinstance(convert(orig), DatabaseUnavailable)  # raw, as a direct driver call raises


@pytest.mark.parametrize(
    "orig",
    [
        pg.AdminShutdown("x"),
        pg.IdleSessionTimeout("x"),
        pg.CannotConnectNow("x"),
        pg.ConnectionFailure("x"),
    ]
    + [psycopg.OperationalError(text) for text in NO_SQLSTATE],
    ids=lambda e: type(e).__name__,
)
def test_errors_that_end_the_session_are_disconnects(orig: Exception) -> None:
    assert server_gone(orig)


@pytest.mark.parametrize(
    "orig",
    [
        pg.TooManyConnections("x"),
        pg.QueryCanceled("x"),
        pg.UniqueViolation("x"),
        pg.SerializationFailure("x"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_errors_on_a_live_session_are_not_disconnects(orig: Exception) -> None:
    # These keep the connection usable: invalidating it (and the pool) would only cost.
    assert not server_gone(orig)


def test_wording_does_not_matter_only_the_code() -> None:
    # A server with lc_messages in another language: the same SQLSTATE, another text.
    orig = pg.AdminShutdown("Verbindung wird abgebrochen aufgrund von Anweisung des Administrators")
    assert isinstance(convert(wrapped(orig)), DatabaseUnavailable)


def test_an_invalidated_connection_is_unavailable_whatever_the_error() -> None:
    # SQLAlchemy found the connection dead (its own check or ours): whatever the driver said.
    orig = psycopg.InterfaceError("cursor already closed")
    assert not unreachable(orig)
    assert isinstance(convert(wrapped(orig, invalidated=True)), DatabaseUnavailable)
    assert type(convert(wrapped(orig))) is PersistenceError


@pytest.mark.parametrize(
    "error",
    [
        exc.TimeoutError("QueuePool limit of size 20 overflow 20 reached, connection timed out"),
        exc.InvalidatePoolError("the pool is invalid"),
        exc.DisconnectionError("connection dead at checkout"),
        exc.PendingRollbackError("Can't reconnect until invalid transaction is rolled back."),
    ],
    ids=lambda e: type(e).__name__,
)
def test_sqlalchemy_pool_and_connection_state_errors_are_unavailable(error: Exception) -> None:
    assert isinstance(convert(error), DatabaseUnavailable)


@pytest.mark.parametrize(
    "orig", [pg.SerializationFailure("x"), pg.DeadlockDetected("x"), pg.LockNotAvailable("x")]
)
def test_retryable_conflicts_stay_conflicts(orig: Exception) -> None:
    # They are OperationalError too: the SQLSTATE decides before the class does.
    assert isinstance(convert(wrapped(orig)), ConcurrencyConflict)


@pytest.mark.parametrize(
    "orig",
    [
        pg.UniqueViolation("duplicate key value violates unique constraint"),
        pg.CheckViolation("new row violates check constraint"),
        pg.UndefinedTable('relation "orders" does not exist'),
        pg.ObjectNotInPrerequisiteState("currval of sequence is not yet defined"),  # 55000
    ],
    ids=lambda e: type(e).__name__,
)
def test_errors_of_the_statement_are_plain_persistence_errors(orig: Exception) -> None:
    converted = convert(wrapped(orig))
    assert type(converted) is PersistenceError
    assert orig.sqlstate is not None and orig.sqlstate in str(converted)
