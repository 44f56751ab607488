"""Statements compiled once, for the hot path.

`databases` compiles every SQLAlchemy Core statement on every call, which the service
benchmark's profile showed to be the largest share of the worker's own CPU. A statement
written with `sa.bindparam()` placeholders is compiled here once per dialect into SQL with
`:name` parameters; each call only runs the types' bind processors on the values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

import databases
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine.interfaces import BindTyping
from sqlalchemy.sql import ClauseElement

from users_service.adapters.storage.database import is_sqlite

Processor = Callable[[Any], Any] | None


class Prepared:
    """A Core statement with bind parameters, compiled on first use per dialect."""

    def __init__(self, statement: ClauseElement) -> None:
        self._statement = statement
        self._compiled: dict[bool, tuple[str, dict[str, Processor], dict[str, Any]]] = {}

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
        sql, bound = self._values(database, values)
        return await database.execute(query=sql, values=bound)

    async def fetch_one(self, database: databases.Database, **values: Any) -> Any:
        sql, bound = self._values(database, values)
        return await database.fetch_one(query=sql, values=bound)
