"""Which driver errors mean "the database is unavailable" (retry, 503) and which are bugs
(a missing table, a connection used twice) that retrying would only hide."""

from __future__ import annotations

import sqlite3

import asyncpg
import psycopg
import pytest
import sqlalchemy.exc

from users_service.adapters.storage.errors import is_unavailable


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(111, "Connection refused"),
        TimeoutError(),
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.CrashShutdownError("terminating connection because of crash of another server"),
        asyncpg.CannotConnectNowError("the database system is starting up"),
        asyncpg.TooManyConnectionsError('too many connections for role "users"'),
        asyncpg.ReadOnlySQLTransactionError("cannot execute INSERT in a read-only transaction"),
        asyncpg.InterfaceError("cannot perform operation: connection is closed"),
        # A multi-host URL whose hosts all answer, none as the primary: mid-failover.
        asyncpg.TargetServerAttributeNotMatched(
            "None of the hosts match the target attribute requirement read-write"
        ),
        sqlite3.OperationalError("database is locked"),
        sqlite3.OperationalError("unable to open database file"),
        # The migrations' synchronous driver, as SQLAlchemy wraps it.
        sqlalchemy.exc.OperationalError(
            "SELECT 1", {}, psycopg.OperationalError("connection failed: Connection refused")
        ),
        sqlalchemy.exc.OperationalError(
            "SELECT 1", {}, sqlite3.OperationalError("database is locked")
        ),
    ],
    ids=lambda e: type(e).__name__ + ":" + str(e)[:30],
)
def test_these_mean_unavailable(error: BaseException) -> None:
    assert is_unavailable(error)


@pytest.mark.parametrize(
    "error",
    [
        sqlite3.OperationalError("no such table: users"),
        asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
        asyncpg.UndefinedTableError('relation "users" does not exist'),
        asyncpg.UniqueViolationError("duplicate key value"),
        ValueError("a bug"),
        sqlalchemy.exc.OperationalError(
            "SELECT 1", {}, sqlite3.OperationalError("no such table: x")
        ),
        sqlalchemy.exc.ProgrammingError("SELECT 1", {}, psycopg.errors.UndefinedTable("no users")),
    ],
    ids=lambda e: type(e).__name__ + ":" + str(e)[:30],
)
def test_these_are_bugs_not_outages(error: BaseException) -> None:
    assert not is_unavailable(error)


def _raised_while(handling: BaseException, then: BaseException) -> BaseException:
    try:
        try:
            raise handling
        except BaseException:
            raise then  # noqa: B904 - the implicit context is the point
    except BaseException as exc:
        return exc


def test_an_error_raised_while_handling_an_outage_is_the_outage() -> None:
    """Found by the soak: a PostgreSQL restart ended a connection (57P01), and asyncpg's
    next step on it raised InternalClientError ("another operation is in progress"),
    answered 500. Alone, that error is a bug; raised while handling an outage, it is the
    outage."""
    during_restart = _raised_while(
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.InternalClientError(
            "cannot switch to state 12; another operation (2) is in progress"
        ),
    )
    assert is_unavailable(during_restart)
    assert not is_unavailable(
        asyncpg.InternalClientError(
            "cannot switch to state 12; another operation (2) is in progress"
        )
    )
