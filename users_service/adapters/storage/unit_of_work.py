"""The unit of work over `databases`: its writes committed together, then delivery of its
outbox."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

import databases
import sqlalchemy as sa

from users_service.adapters.storage import schema
from users_service.adapters.storage.command_log import DatabaseCommandLog
from users_service.adapters.storage.db_clock import db_now_plus
from users_service.adapters.storage.errors import is_unavailable, unavailable
from users_service.adapters.storage.idempotency_keys import DatabaseIdempotencyKeys
from users_service.adapters.storage.users import DatabaseUsers
from users_service.adapters.storage.workarounds import forget_task_connection
from users_service.adapters.storage.writes import PendingWrites, Template, Write, Writes
from users_service.domain.clock import utc_now
from users_service.domain.errors import StorageUnavailable
from users_service.domain.model import OutboxMessage
from users_service.domain.sharding import key_hash
from users_service.service_layer.outbox.ports import Dispatcher


def encode_headers(headers: dict[str, str]) -> str:
    """Headers as stored: compact JSON with sorted keys."""
    return json.dumps(headers, separators=(",", ":"), sort_keys=True)


class DatabaseOutbox:
    """Outbox writes of a unit of work, held for its commit.

    A message is claimed for `owner`'s fast path when one is given and nothing older of its
    key is pending; the claimed ones are handed to the dispatcher after the commit."""

    def __init__(
        self,
        writes: Writes,
        *,
        owner: str | None,
        claim_ttl: timedelta,
    ) -> None:
        self._writes = writes
        self._owner = owner
        self._claim_seconds = claim_ttl.total_seconds()
        self.claimed: list[OutboxMessage] = []

    async def add(self, message: OutboxMessage) -> None:
        values: dict[str, Any] = {
            "event_id": message.event_id,
            "aggregate_type": message.aggregate_type,
            "aggregate_id": message.aggregate_id,
            "event_type": message.event_type,
            "topic": message.topic,
            "message_key": message.key,
            "key_hash": key_hash(message.key),
            # The exact bytes to publish; every value is JSON, hence valid UTF-8.
            "payload": message.payload.decode("utf-8"),
            "headers": encode_headers(message.headers),
            "created_at": message.created_at,
        }
        if self._owner is None:
            await self._writes.submit(Write(_INSERT_UNCLAIMED, values))
            return
        # Only when nothing older is pending for this key may the creating worker publish
        # it at once: otherwise it would overtake the older event. One statement decides
        # and inserts (the check sees the table as it was before this row), and says which.
        values.update(
            key_topic=message.topic,
            key_value=message.key,
            claimed_by=self._owner,
            claim_seconds=self._claim_seconds,
        )

        def claimed(row: Any) -> None:
            if row is not None and row[0] is not None:
                self.claimed.append(message)

        write = Write(_INSERT_CLAIMED_UNLESS_KEY_PENDING, values, returned=claimed)
        await self._writes.submit(write)


_o = schema.outbox.c
_COLUMNS = (
    "event_id",
    "aggregate_type",
    "aggregate_id",
    "event_type",
    "topic",
    "message_key",
    "key_hash",
    "payload",
    "headers",
    "created_at",
)


def _columns(prefix: str) -> dict[str, Any]:
    return {c: sa.bindparam(prefix + c, type_=schema.outbox.c[c].type) for c in _COLUMNS}


def _insert_claimed_unless_key_pending(prefix: str) -> sa.Insert:
    older = schema.outbox.alias("older")
    key_free = ~(
        sa.select(older.c.id)
        .where(
            older.c.topic == sa.bindparam(prefix + "key_topic", type_=_o.topic.type),
            older.c.message_key == sa.bindparam(prefix + "key_value", type_=_o.message_key.type),
        )
        .where(older.c.published_at.is_(None))
        .exists()
    )
    claim_seconds = sa.bindparam(prefix + "claim_seconds", type_=sa.Float)
    return (
        schema.outbox.insert()
        .values(
            {
                **_columns(prefix),
                "claimed_by": sa.case(
                    # Cast: PostgreSQL infers a bare CASE parameter as text, not varchar.
                    (key_free, sa.cast(sa.bindparam(prefix + "claimed_by"), _o.claimed_by.type)),
                    else_=None,
                ),
                "claimed_until": sa.case((key_free, db_now_plus(claim_seconds)), else_=None),
            }
        )
        .returning(_o.claimed_by)
    )


_INSERT_UNCLAIMED = Template(lambda prefix: schema.outbox.insert().values(_columns(prefix)))
_INSERT_CLAIMED_UNLESS_KEY_PENDING = Template(_insert_claimed_unless_key_pending)


class DatabaseUnitOfWork:
    """The service layer's UnitOfWork over `databases`: reads run at once, writes are held
    and committed together on a clean exit (`writes.PendingWrites`), nothing on an
    exception."""

    def __init__(
        self,
        database: databases.Database,
        dispatcher: Dispatcher | None = None,
        *,
        claim_ttl: float = 30.0,
        acquire_timeout: float | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._db = database
        self._dispatcher = dispatcher
        self._acquire_timeout = acquire_timeout
        self._writes = PendingWrites()
        self.users = DatabaseUsers(database, writes=self._writes)
        self.outbox = DatabaseOutbox(
            self._writes,
            owner=dispatcher.fast_path_owner if dispatcher is not None else None,
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
                await self._writes.flush(self._db)
            except StorageUnavailable:
                self._forget_broken_connection()
                raise
        finally:
            await _release(connection)
        if self._dispatcher is not None and self.outbox.claimed:
            claimed, self.outbox.claimed = self.outbox.claimed, []
            self._dispatcher.dispatch(claimed)


async def _release(connection: databases.core.Connection) -> None:
    # A connection that broke is the pool's to replace; releasing it must not hide the
    # error being raised.
    try:
        await connection.__aexit__(None, None, None)
    except Exception as exc:
        if not is_unavailable(exc):
            raise
