"""The database's clock, in SQL: leases, claims and retention are timed by the one clock
every worker shares, not by each worker's own (hosts drift; seconds of skew are common).

PostgreSQL: `clock_timestamp()`, the real time (not the transaction's start). SQLite:
`datetime('now')`, to the second: its finer forms need `strftime('%f')` (and `databases`
%-formats every SQLite statement for its debug log, so a `%` in the SQL breaks it) or the
`subsec` modifier (SQLite 3.42; Debian 12 has 3.40). A second is fine there: SQLite serves
one host, and leases and claims last seconds.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement


class db_now(FunctionElement[Any]):
    """The database's current time."""

    type = sa.DateTime(timezone=True)
    inherit_cache = True
    name = "db_now"


class db_now_plus(FunctionElement[Any]):
    """The database's current time plus `seconds` (negative for the past)."""

    type = sa.DateTime(timezone=True)
    inherit_cache = True
    name = "db_now_plus"


@compiles(db_now, "postgresql")
def _now_postgresql(element: db_now, compiler: Any, **kw: Any) -> str:
    return "clock_timestamp()"


@compiles(db_now, "sqlite")
def _now_sqlite(element: db_now, compiler: Any, **kw: Any) -> str:
    return "datetime('now')"


@compiles(db_now_plus, "postgresql")
def _plus_postgresql(element: db_now_plus, compiler: Any, **kw: Any) -> str:
    return f"clock_timestamp() + make_interval(secs => {compiler.process(element.clauses, **kw)})"


@compiles(db_now_plus, "sqlite")
def _plus_sqlite(element: db_now_plus, compiler: Any, **kw: Any) -> str:
    # A signed number then " seconds" is a modifier: datetime('now', '-5.0 seconds').
    return f"datetime('now', {compiler.process(element.clauses, **kw)} || ' seconds')"
