"""Statements compiled once, for the hot path.

`databases` compiles every SQLAlchemy Core statement on every call, on the worker's main
thread, for each creation. A statement
written with `sa.bindparam()` placeholders is compiled here once per dialect; each call
only runs the types' bind processors on the values.

On PostgreSQL the statement goes to asyncpg as it is (`$1` parameters, on the connection
`databases` holds for this task, under its query lock, so inside a transaction it is that
transaction's): `databases` would still wrap the SQL in `text()` and compile that on every
call. asyncpg's own
statement cache then prepares it once per connection (behind a transaction-mode pooler,
DATABASE_POOLER=transaction, the cache is off and each call prepares it unnamed). On
SQLite it goes through
`databases` with `:name` parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

import asyncpg
import databases
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine.interfaces import BindTyping
from sqlalchemy.sql import ClauseElement

from users_service.adapters.storage.database import is_sqlite
from users_service.adapters.storage.workarounds import query_lock

Processor = Callable[[Any], Any] | None


class Prepared:
    """A Core statement with bind parameters, compiled on first use per dialect."""

    def __init__(self, statement: ClauseElement) -> None:
        self._statement = statement
        self._compiled: dict[bool, tuple[str, dict[str, Processor], dict[str, Any]]] = {}
        self._positional: tuple[str, list[str], dict[str, Processor], dict[str, Any]] | None = None

    def _for_asyncpg(self) -> tuple[str, list[str], dict[str, Processor], dict[str, Any]]:
        if self._positional is None:
            dialect = postgresql.dialect(paramstyle="numeric_dollar")  # type: ignore[no-untyped-call]
            dialect.bind_typing = BindTyping.NONE
            compiled = self._statement.compile(dialect=dialect)
            names = cast(Any, compiled).bind_names
            processors = {n: b.type._cached_bind_processor(dialect) for b, n in names.items()}
            fixed = {n: b.effective_value for b, n in names.items() if not b.required}
            order = list(cast(Any, compiled).positiontup)
            self._positional = (compiled.string, order, processors, fixed)
        return self._positional

    async def _on_asyncpg(self, database: databases.Database, method: str, values: Any) -> Any:
        sql, order, processors, fixed = self._for_asyncpg()
        given = {**fixed, **values}
        args = []
        for name in order:
            process = processors.get(name)
            args.append(process(given[name]) if process is not None else given[name])
        async with database.connection() as connection, query_lock(connection):
            raw = connection.raw_connection
            try:
                return await getattr(raw, method)(sql, *args)
            except (asyncpg.InternalClientError, asyncpg.InterfaceError) as exc:
                # Under `databases`' query lock nothing of ours runs beside this query, so
                # "another operation is in progress" means the protocol was left broken by
                # a connection the server ended (an administrator, a restart): an outage.
                if raw.is_closed() or "another operation" in str(exc):
                    raise ConnectionResetError(f"the database connection broke: {exc}") from exc
                raise

    def _for(
        self, database: databases.Database
    ) -> tuple[str, dict[str, Processor], dict[str, Any]]:
        on_sqlite = is_sqlite(str(database.url))
        found = self._compiled.get(on_sqlite)
        if found is None:
            dialect = (
                sqlite.dialect(paramstyle="named")  # type: ignore[no-untyped-call]
                if on_sqlite
                else postgresql.dialect(paramstyle="named")  # type: ignore[no-untyped-call]
            )
            # No `::TYPE` casts after the parameters: databases' text() would not see them.
            dialect.bind_typing = BindTyping.NONE
            compiled = self._statement.compile(dialect=dialect)
            names = cast(Any, compiled).bind_names  # BindParameter -> name in the SQL
            processors = {n: b.type._cached_bind_processor(dialect) for b, n in names.items()}
            # Parameters the statement fixed itself, such as a LIMIT.
            fixed = {n: b.effective_value for b, n in names.items() if not b.required}
            found = self._compiled[on_sqlite] = (compiled.string, processors, fixed)
        return found

    def _values(
        self, database: databases.Database, values: Mapping[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        sql, processors, fixed = self._for(database)
        bound = {}
        for name, value in {**fixed, **values}.items():
            process = processors.get(name)
            bound[name] = process(value) if process is not None else value
        return sql, bound

    async def execute(self, database: databases.Database, **values: Any) -> Any:
        """Run it; the result is not for reading (its form differs by database)."""
        if not is_sqlite(str(database.url)):
            return await self._on_asyncpg(database, "execute", values)
        sql, bound = self._values(database, values)
        return await database.execute(query=sql, values=bound)

    async def fetch_one(self, database: databases.Database, **values: Any) -> Any:
        """The first row (read by index or column name), or None."""
        if not is_sqlite(str(database.url)):
            return await self._on_asyncpg(database, "fetchrow", values)
        sql, bound = self._values(database, values)
        return await database.fetch_one(query=sql, values=bound)

    async def fetch_all(self, database: databases.Database, **values: Any) -> list[Any]:
        """Every row (each read by index or column name)."""
        if not is_sqlite(str(database.url)):
            return list(await self._on_asyncpg(database, "fetch", values))
        sql, bound = self._values(database, values)
        return list(await database.fetch_all(query=sql, values=bound))
