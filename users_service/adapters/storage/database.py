"""Creating the `databases.Database` for a URL; no connection is made here."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit, urlunsplit

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
# DATABASE_POOLER's values for a pooler in transaction mode: "transaction" (each statement
# prepared unnamed), "transaction-prepared" (the pooler keeps prepared statements across
# server connections: PgBouncer >= 1.21 with max_prepared_statements). The others, "none"
# and "session", are PostgreSQL itself or a pooler in session mode.
TRANSACTION_POOLERS = frozenset({"transaction", "transaction-prepared"})
# Query parameters `databases` reads itself; asyncpg would take any other as a server setting.
_DATABASES_OPTIONS = frozenset({"min_size", "max_size", "ssl"})


def hosts_of(url: str) -> list[str]:
    """The hosts of a PostgreSQL URL, without ports: one, or several for a multi-host URL
    (`postgresql://u:p@a:5432,b:5433/db`, which libpq and asyncpg both read)."""
    netloc = urlsplit(url).netloc.rpartition("@")[2]
    hosts = []
    for item in netloc.split(","):
        host = item.rsplit(":", 1)[0] if item.count(":") == 1 or "]:" in item else item
        hosts.append(host.lower())
    return hosts


def loopback_without_tls(url: str) -> bool:
    """True when `url` is a PostgreSQL URL on this machine's loopback that says nothing of
    TLS: asyncpg would then negotiate TLS ("prefer"), which costs CPU on both ends and
    protects nothing on loopback. A remote host, or an explicit `ssl`/`sslmode`, keeps
    what it asks for."""
    if is_sqlite(url):
        return False
    query = parse_qs(urlsplit(url).query)
    hosts = hosts_of(url)
    return all(h in LOOPBACK_HOSTS for h in hosts) and not ({"ssl", "sslmode"} & set(query))


def asyncpg_connect_options(url: str) -> dict[str, Any]:
    """What asyncpg is given for the PostgreSQL `url`: the URL itself as its `dsn`, so that
    asyncpg reads every host of a multi-host URL and `target_session_attrs` (`databases`
    parses the URL with urllib, which cannot read `a:5432,b:5433`, and would pass one host
    and one port), minus the parameters `databases` reads itself."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in _DATABASES_OPTIONS]
    dsn = urlunsplit(parts._replace(query=urlencode(query)))
    # None: the dsn's value is used (asyncpg lets an explicit argument override the dsn).
    return {
        "dsn": dsn,
        "host": None,
        "port": None,
        "user": None,
        "password": None,
        "database": None,
    }


def single_host_url(url: str) -> str:
    """`url` with only its first host, for `databases`, which parses it but, given
    `asyncpg_connect_options`, connects with what asyncpg reads from the whole URL."""
    parts = urlsplit(url)
    userinfo, at, hosts = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{userinfo}{at}{hosts.split(',')[0]}"))


async def keep_session(connection: asyncpg.Connection) -> None:
    """The pool's reset for a returned connection, beyond the leftover transaction asyncpg
    always rolls back itself: nothing.

    asyncpg's default runs `RESET ALL`, `UNLISTEN *`, `CLOSE ALL` and an advisory unlock:
    one more round trip on every release, paid on the worker's main thread.
    The pool's connections never change session state (no SET, LISTEN, cursor or
    session lock; migrations run in their own process), so there is nothing to reset.
    Behind a transaction-mode pooler a reset would be worse than useless: sent outside any
    transaction, it would run on whichever server connection the pooler picks, another
    client's, not the one this connection used."""


def make_database(url: str, *, max_size: int = 10, pooler: str = "none") -> databases.Database:
    """A Database object for `url` with a pool of at most `max_size` connections
    (connect() is the caller's, at start-up).

    `pooler="transaction"`: the URL leads to a pooler in transaction mode (PgBouncer's
    `pool_mode = transaction`), which gives each transaction whichever server connection
    is free. asyncpg's statement cache would prepare named statements on one server
    connection and use them on another ("prepared statement ... does not exist"), so it
    is off: every statement is prepared unnamed, in the same round trips as it runs."""
    url = normalize_url(url)
    if is_sqlite(url):
        path = url.split(":///", 1)[1] if ":///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        return databases.Database(url)  # type: ignore[no-untyped-call]
    # Bounded pool; the statement cache is safe because no DDL runs after migrations.
    # `timeout` bounds each new connection: asyncpg's default waits 60 s for a host that
    # does not answer, which would hold a request (or a shutdown) that long.
    options: dict[str, Any] = asyncpg_connect_options(url)
    if loopback_without_tls(url):
        options["ssl"] = False
    if pooler == "transaction":
        options["statement_cache_size"] = 0
    return databases.Database(  # type: ignore[no-untyped-call]
        single_host_url(url),
        min_size=1,
        max_size=max_size,
        command_timeout=10,
        timeout=5,
        reset=keep_session,
        **options,
    )
