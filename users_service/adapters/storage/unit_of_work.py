"""The unit of work over `databases`: its writes committed together; afterwards it tells
which outbox messages it claimed for the fast path (`collect_claimed`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from types import TracebackType

import databases

from users_service.adapters import trace_context
from users_service.adapters.storage.command_log import DatabaseCommandLog
from users_service.adapters.storage.database import is_sqlite
from users_service.adapters.storage.errors import is_unavailable, unavailable
from users_service.adapters.storage.idempotency_keys import DatabaseIdempotencyKeys
from users_service.adapters.storage.outbox_store import DatabaseOutbox
from users_service.adapters.storage.users import DatabaseUsers
from users_service.adapters.storage.workarounds import forget_task_connection
from users_service.adapters.storage.writes import PendingWrites
from users_service.domain.clock import utc_now
from users_service.domain.errors import StorageUnavailable
from users_service.domain.model import OutboxMessage


class DatabaseUnitOfWork:
    """The service layer's UnitOfWork over `databases`: reads run at once, writes are held
    and committed together on a clean exit (`writes.PendingWrites`), nothing on an
    exception. With `claim_for` (the fast path's owner), its outbox messages are claimed for
    that fast path when no older message of their key is pending."""

    def __init__(
        self,
        database: databases.Database,
        claim_for: str | None = None,
        *,
        claim_ttl: float = 30.0,
        acquire_timeout: float | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._db = database
        self._acquire_timeout = acquire_timeout
        self._writes = PendingWrites()
        self.users = DatabaseUsers(database, writes=self._writes)
        self.outbox = DatabaseOutbox(
            self._writes,
            owner=claim_for,
            claim_ttl=timedelta(seconds=claim_ttl),
        )
        self.commands = DatabaseCommandLog(database, clock, writes=self._writes)
        self.idempotency = DatabaseIdempotencyKeys(database, writes=self._writes)
        self._connection: databases.core.Connection | None = None

    async def __aenter__(self) -> DatabaseUnitOfWork:
        # The task's connection, held to the end: its reads and the commit share it.
        connection = self._db.connection()
        try:
            # Taking a connection from a busy pool is bounded: a 503, not an endless wait.
            async with asyncio.timeout(self._acquire_timeout):
                await connection.__aenter__()
        except Exception as exc:
            if is_unavailable(exc):
                self._forget_broken_connection()
                raise unavailable(exc) from exc
            raise
        self._connection = connection
        return self

    def _forget_broken_connection(self) -> None:
        # `databases` keeps one connection wrapper per task. After the connection broke,
        # that wrapper still points at a connection the pool has taken back, and the
        # task's next query (looking for the row, say) fails on it with "connection has
        # been released back to the pool". Dropped, the next query acquires a fresh one.
        forget_task_connection(self._db)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        connection, self._connection = self._connection, None
        assert connection is not None
        try:
            if exc is not None:
                self._writes.discard()  # nothing was sent: nothing to roll back
                if is_unavailable(exc):
                    self._forget_broken_connection()
                    raise unavailable(exc) from exc
                return  # the body's own exception goes on
            try:
                # The database span of the use case: its writes are one statement (or one
                # transaction), committed here.
                if len(self._writes):
                    with trace_context.work_span(
                        "unit of work commit", self._span_attributes, client=True
                    ):
                        await self._writes.flush(self._db)
            except BaseException as failure:
                # Not known to be committed: never for the fast path (the relay has them
                # once the claim lapses, if they were).
                self.outbox.claimed = []
                if isinstance(failure, StorageUnavailable):
                    self._forget_broken_connection()
                raise
        finally:
            await _release(connection)

    @property
    def _span_attributes(self) -> dict[str, str | int]:
        system = "sqlite" if is_sqlite(str(self._db.url)) else "postgresql"
        return {
            "db.system.name": system,
            "db.operation.name": "COMMIT",
            "db.operation.batch.size": len(self._writes),
        }

    def collect_claimed(self) -> list[OutboxMessage]:
        """The committed messages claimed for the fast path, once: the caller publishes them."""
        claimed, self.outbox.claimed = self.outbox.claimed, []
        return claimed


async def _release(connection: databases.core.Connection) -> None:
    # A connection that broke is the pool's to replace; releasing it must not hide the
    # error being raised.
    try:
        await connection.__aexit__(None, None, None)
    except Exception as exc:
        if not is_unavailable(exc):
            raise
