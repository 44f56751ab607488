"""Translating driver exceptions into the service layer's errors.

"Unavailable" means: the database cannot serve this now, and the same request may well
succeed later (503 with Retry-After over HTTP, a retry for a command). Anything else is a
bug (a missing table, a connection used by two tasks at once), which retrying would only
hide: it stays a 500, or a parked command.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import sqlalchemy.exc

from users_service.domain.errors import StorageUnavailable

# Shut down by an administrator or a crash, starting up (57P0x); too many connections
# (53300); a read-only node, as after a failover (25006).
UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300", "25006"})
# The phrases of sqlite3.OperationalError and asyncpg.InterfaceError that mean an outage;
# the same classes also report bugs ("no such table", "another operation is in progress").
_SQLITE_OUTAGES = ("database is locked", "database table is locked", "unable to open", "disk i/o")
_ASYNCPG_CLOSED = ("connection is closed", "connection was closed")

UNIQUE_VIOLATIONS: tuple[type[BaseException], ...] = (
    asyncpg.UniqueViolationError,
    sqlite3.IntegrityError,
)


def is_unavailable(exc: BaseException) -> bool:
    """True when `exc`, or an error it was raised while handling, says the database is out
    of reach or refusing work for now. (A driver's "another operation is in progress" is a
    bug on its own, but the outage itself when it follows a connection ended under it.)"""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _is_outage(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _is_outage(exc: BaseException) -> bool:
    if isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.orig is not None:
        # The migrations' synchronous driver, wrapped by SQLAlchemy.
        orig = exc.orig
        # Only the migrations import psycopg (in their own process, or the CLI's): when it
        # is not loaded, no error of it can be here, and the worker is spared loading it.
        psycopg = sys.modules.get("psycopg")
        if psycopg is not None and isinstance(orig, psycopg.OperationalError):
            return getattr(orig, "sqlstate", None) in (None, *UNAVAILABLE_SQLSTATES) or (
                str(getattr(orig, "sqlstate", "")).startswith("08")
            )
        return is_unavailable(orig)
    if isinstance(exc, OSError | asyncio.TimeoutError | asyncpg.PostgresConnectionError):
        return True  # refused, reset, timed out; SQLSTATE class 08
    if isinstance(exc, asyncpg.TargetServerAttributeNotMatched):
        return True  # every host of a multi-host URL answered, none as the primary (yet)
    if isinstance(exc, asyncpg.PostgresError):
        return getattr(exc, "sqlstate", None) in UNAVAILABLE_SQLSTATES
    if isinstance(exc, asyncpg.InterfaceError):
        return any(phrase in str(exc) for phrase in _ASYNCPG_CLOSED)
    if isinstance(exc, sqlite3.OperationalError):
        return any(phrase in str(exc).lower() for phrase in _SQLITE_OUTAGES)
    return False


def unavailable(exc: BaseException) -> StorageUnavailable:
    """The service layer's error for an outage, naming the driver's exception."""
    return StorageUnavailable(f"database unavailable: {type(exc).__name__}")


@asynccontextmanager
async def unavailable_as_storage_error(timeout: float | None = None) -> AsyncIterator[None]:
    """Turn 'cannot reach the database' into StorageUnavailable (a 503, not a 500); with
    `timeout`, so is waiting longer than that (for a free connection, mostly)."""
    try:
        async with asyncio.timeout(timeout):
            yield
    except Exception as exc:
        if is_unavailable(exc):
            raise unavailable(exc) from exc
        raise
