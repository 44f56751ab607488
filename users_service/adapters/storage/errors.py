"""Translating driver exceptions into the service layer's errors."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from users_service.domain.errors import StorageUnavailable

# Raised when the server is down, restarting, or the connection broke mid-way.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    sqlite3.OperationalError,
)

UNIQUE_VIOLATIONS: tuple[type[BaseException], ...] = (
    asyncpg.UniqueViolationError,
    sqlite3.IntegrityError,
)


@asynccontextmanager
async def unavailable_as_storage_error() -> AsyncIterator[None]:
    """Turn 'cannot reach the database' into StorageUnavailable (a 503, not a 500)."""
    try:
        yield
    except CONNECTION_ERRORS as exc:
        raise StorageUnavailable(f"database unavailable: {type(exc).__name__}") from exc
