"""The writes of a unit of work, held until its commit and then sent in as few round trips
as the database allows.

A creation writes the user and its outbox row (and, for a command, its outcome). Sent one
by one inside BEGIN … COMMIT that is four round trips to PostgreSQL, each a socket write
and a wake-up on both sides: at saturation the worker's main thread spent most of its
time there. PostgreSQL runs INSERTs chained as data-modifying CTEs
(`WITH a AS (INSERT …) INSERT …`) as one statement, hence one implicit transaction: all
or nothing, in one round trip. SQLite, and any set of writes that cannot be chained (a
DELETE then an INSERT that must see it, say), run one by one in a transaction as before.

Outside a unit of work the stores run each write at once (`Immediate`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import databases
import sqlalchemy as sa

from users_service.adapters.storage.database import is_sqlite
from users_service.adapters.storage.errors import UNIQUE_VIOLATIONS, is_unavailable, unavailable
from users_service.adapters.storage.statements import Prepared
from users_service.domain.errors import OutcomeUnknown

# Chained statements are compiled once per combination; a batch larger than this (the
# backfill's 500 rows) runs in a transaction instead of compiling a giant statement.
MAX_CHAINED = 4


class Template:
    """A DML statement whose bind parameters can be renamed (`make(prefix)`), so that
    several fit in one statement. `chainable`: it may run as a CTE beside the others,
    which means it needs to see none of their effects (they share one snapshot)."""

    def __init__(self, make: Callable[[str], sa.Insert | sa.Delete], *, chainable: bool = True):
        self.make = make
        self.chainable = chainable
        self.alone = Prepared(make(""))


Conflict = Callable[[BaseException], Exception | None]


def no_conflict(exc: BaseException) -> Exception | None:
    return None


def conflict_on(constraint: str, sqlite_column: str, error: Callable[[], Exception]) -> Conflict:
    """A write's conflict: `error()` when a unique violation is of `constraint`, by the
    name PostgreSQL gives, or by the `table.column` SQLite's message names. Among chained
    writes, each claims only its own violation."""

    def conflict(exc: BaseException) -> Exception | None:
        name = getattr(exc, "constraint_name", None)
        ours = name == constraint if name is not None else sqlite_column in str(exc)
        return error() if ours else None

    return conflict


def insert_every_column(table: sa.Table) -> Template:
    """An INSERT of every column of `table`, each a parameter named after its column."""
    return Template(
        lambda prefix: table.insert().values(
            {c.name: sa.bindparam(prefix + c.name, type_=c.type) for c in table.columns}
        )
    )


@dataclass(frozen=True)
class Write:
    """One statement of a unit of work, with what a unique violation of it means to the
    service layer and, when it returns a row, who reads that row."""

    template: Template
    values: Mapping[str, Any]
    conflict: Conflict = no_conflict
    returned: Callable[[Any], None] | None = None


class Writes(Protocol):
    async def submit(self, write: Write) -> None: ...


def _raise_conflict(exc: BaseException, writes: Sequence[Write]) -> None:
    for write in writes:
        error = write.conflict(exc)
        if error is not None:
            raise error from None


async def _run_alone(database: databases.Database, write: Write) -> None:
    if write.returned is None:
        await write.template.alone.execute(database, **write.values)
    else:
        write.returned(await write.template.alone.fetch_one(database, **write.values))


@dataclass
class Immediate:
    """Writes run as they come (autocommit): a store used outside a unit of work."""

    database: databases.Database

    async def submit(self, write: Write) -> None:
        try:
            await _run_alone(self.database, write)
        except UNIQUE_VIOLATIONS as exc:
            _raise_conflict(exc, [write])
            raise


_CHAINS: dict[tuple[Template, ...], Prepared] = {}


def _chained(templates: tuple[Template, ...]) -> Prepared:
    """One statement: the last template as the main one, the others as CTEs before it."""
    found = _CHAINS.get(templates)
    if found is None:
        *others, last = templates
        statement = last.make(f"w{len(others)}_")
        for n, template in enumerate(others):
            statement = statement.add_cte(template.make(f"w{n}_").cte(f"write_{n}"))
        found = _CHAINS[templates] = Prepared(statement)
    return found


@dataclass
class PendingWrites:
    """Writes held by a unit of work until `flush`, its commit."""

    _writes: list[Write] = field(default_factory=list)

    async def submit(self, write: Write) -> None:
        self._writes.append(write)

    def discard(self) -> None:
        self._writes.clear()

    def __len__(self) -> int:
        """How many writes are held."""
        return len(self._writes)

    async def flush(self, database: databases.Database) -> None:
        """Commit the held writes: all or none. Raises the service layer's error for a
        conflict, StorageUnavailable when nothing was written, OutcomeUnknown when the
        connection broke while the commit may have happened."""
        writes, self._writes = self._writes, []
        if not writes:
            return
        if len(writes) == 1:
            await self._one_statement(database, writes, lambda: _run_alone(database, writes[0]))
        elif self._chainable(database, writes):
            await self._one_statement(database, writes, lambda: self._run_chained(database, writes))
        else:
            await self._transaction(database, writes)

    @staticmethod
    def _chainable(database: databases.Database, writes: Sequence[Write]) -> bool:
        return (
            not is_sqlite(str(database.url))
            and len(writes) <= MAX_CHAINED
            and all(w.template.chainable for w in writes)
            and sum(w.returned is not None for w in writes) <= 1
        )

    @staticmethod
    async def _run_chained(database: databases.Database, writes: Sequence[Write]) -> None:
        # The main statement's RETURNING is the only one read: the write that wants its
        # row goes last.
        ordered = sorted(writes, key=lambda w: w.returned is not None)
        values = {f"w{n}_{k}": v for n, w in enumerate(ordered) for k, v in w.values.items()}
        statement = _chained(tuple(w.template for w in ordered))
        row = await statement.fetch_one(database, **values)
        if ordered[-1].returned is not None:
            ordered[-1].returned(row)

    @staticmethod
    async def _one_statement(
        database: databases.Database, writes: Sequence[Write], run: Callable[[], Any]
    ) -> None:
        try:
            await run()
        except UNIQUE_VIOLATIONS as exc:
            _raise_conflict(exc, writes)
            raise
        except Exception as exc:
            if is_unavailable(exc):
                # The statement is its own commit: it may have reached the server.
                raise OutcomeUnknown(f"commit outcome unknown: {type(exc).__name__}") from exc
            raise

    @staticmethod
    async def _transaction(database: databases.Database, writes: Sequence[Write]) -> None:
        try:
            transaction = await database.transaction().__aenter__()
        except Exception as exc:
            if is_unavailable(exc):
                raise unavailable(exc) from exc
            raise
        try:
            for write in writes:
                await _run_alone(database, write)
        except BaseException as exc:
            try:
                await transaction.__aexit__(type(exc), exc, exc.__traceback__)
            except Exception as error:
                if not is_unavailable(error):
                    raise
            if isinstance(exc, UNIQUE_VIOLATIONS):
                _raise_conflict(exc, writes)
            if isinstance(exc, Exception) and is_unavailable(exc):
                raise unavailable(exc) from exc
            raise
        try:
            await transaction.__aexit__(None, None, None)
        except Exception as error:
            if is_unavailable(error):
                # The COMMIT may have reached the server before the connection broke:
                # only the database can say whether it happened.
                raise OutcomeUnknown(f"commit outcome unknown: {type(error).__name__}") from error
            raise
