"""Creating the `databases.Database` for a URL; no connection is made here."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import databases
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

from users_service.domain.clock import as_utc, utc_now


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def normalize_url(url: str) -> str:
    """`databases` wants `postgresql://` or `sqlite://`; accept the common variants too."""
    for prefix, canonical in (
        ("postgresql+asyncpg://", "postgresql://"),
        ("postgres://", "postgresql://"),
        ("sqlite+aiosqlite://", "sqlite://"),
    ):
        if url.startswith(prefix):
            return canonical + url[len(prefix) :]
    return url


def read_timestamp(value: datetime | str | None) -> datetime | None:
    """An aggregate's timestamp as aware UTC: SQLite's min() hands back text, and naive."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return as_utc(value) if value is not None else None


def dialect_for(url: str) -> Dialect:
    """The SQLAlchemy dialect DDL is compiled with."""
    if is_sqlite(url):
        return sqlite.dialect()
    return postgresql.dialect()  # type: ignore[no-untyped-call]


class DatabaseAccess:
    """Base of the stores: the database, and the clock their timestamps come from."""

    def __init__(
        self, database: databases.Database, clock: Callable[[], datetime] = utc_now
    ) -> None:
        self._db = database
        self._clock = clock


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def loopback_without_tls(url: str) -> bool:
    """True when `url` is a PostgreSQL URL on this machine's loopback that says nothing of
    TLS: asyncpg would then negotiate TLS ("prefer"), which costs CPU on both ends and
    protects nothing on loopback. A remote host, or an explicit `ssl`/`sslmode`, keeps
    what it asks for."""
    if is_sqlite(url):
        return False
    parsed = urlsplit(url)
    query = parse_qs(parsed.query)
    return (parsed.hostname or "") in LOOPBACK_HOSTS and not ({"ssl", "sslmode"} & set(query))


async def keep_session(connection: asyncpg.Connection) -> None:
    """The pool's reset for a returned connection, beyond the leftover transaction asyncpg
    always rolls back itself: nothing.

    asyncpg's default runs `RESET ALL`, `UNLISTEN *`, `CLOSE ALL` and an advisory unlock:
    one more round trip on every release, 8 % of the worker's main thread at saturation.
    The pool's connections never change session state (no SET, LISTEN, cursor or
    session lock; migrations run in their own process), so there is nothing to reset."""


def make_database(url: str, *, max_size: int = 10) -> databases.Database:
    """A Database object for `url` with a pool of at most `max_size` connections
    (connect() is the caller's, at start-up)."""
    url = normalize_url(url)
    if is_sqlite(url):
        path = url.split(":///", 1)[1] if ":///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        return databases.Database(url)  # type: ignore[no-untyped-call]
    # Bounded pool; the statement cache is safe because no DDL runs after migrations.
    # `timeout` bounds each new connection: asyncpg's default waits 60 s for a host that
    # does not answer, which would hold a request (or a shutdown) that long.
    options: dict[str, Any] = {}
    if loopback_without_tls(url):
        options["ssl"] = False
    return databases.Database(  # type: ignore[no-untyped-call]
        url,
        min_size=1,
        max_size=max_size,
        command_timeout=10,
        timeout=5,
        reset=keep_session,
        **options,
    )
