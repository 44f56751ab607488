"""The unit of work over `databases`: one transaction, and delivery of its outbox after commit."""

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
from users_service.adapters.storage.statements import Prepared
from users_service.adapters.storage.users import DatabaseUsers
from users_service.domain.clock import utc_now
from users_service.domain.errors import OutcomeUnknown
from users_service.domain.model import OutboxMessage
from users_service.domain.sharding import key_hash
from users_service.service_layer.outbox.ports import Dispatcher


def encode_headers(headers: dict[str, str]) -> str:
    """Headers as stored: compact JSON with sorted keys."""
    return json.dumps(headers, separators=(",", ":"), sort_keys=True)


class DatabaseOutbox:
    """Outbox writes inside the unit of work's transaction.

    A message is claimed for `owner`'s fast path when one is given and nothing older of its
    key is pending; the claimed ones are handed to the dispatcher after the commit."""

    def __init__(
        self,
        database: databases.Database,
        *,
        owner: str | None,
        claim_ttl: timedelta,
    ) -> None:
        self._db = database
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
            await _INSERT_UNCLAIMED.execute(self._db, **values)
            return
        # Only when nothing older is pending for this key may the creating worker publish
        # it at once: otherwise it would overtake the older event. One statement decides
        # and inserts (the check sees the table as it was before this row), and says which.
        row = await _INSERT_CLAIMED_UNLESS_KEY_PENDING.fetch_one(
            self._db,
            **values,
            key_topic=message.topic,
            key_value=message.key,
            claimed_by=self._owner,
            claim_seconds=self._claim_seconds,
        )
        if row is not None and row[0] is not None:
            self.claimed.append(message)


_o = schema.outbox.c
_COLUMNS = {
    column: sa.bindparam(column, type_=schema.outbox.c[column].type)
    for column in (
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
}
_INSERT_UNCLAIMED = Prepared(schema.outbox.insert().values(_COLUMNS))
_older = schema.outbox.alias("older")
_KEY_FREE = ~(
    sa.select(_older.c.id)
    .where(
        _older.c.topic == sa.bindparam("key_topic", type_=_o.topic.type),
        _older.c.message_key == sa.bindparam("key_value", type_=_o.message_key.type),
    )
    .where(_older.c.published_at.is_(None))
    .exists()
)
_INSERT_CLAIMED_UNLESS_KEY_PENDING = Prepared(
    schema.outbox.insert()
    .values(
        {
            **_COLUMNS,
            "claimed_by": sa.case(
                # Cast: PostgreSQL infers a bare CASE parameter as text, not varchar.
                (_KEY_FREE, sa.cast(sa.bindparam("claimed_by"), _o.claimed_by.type)),
                else_=None,
            ),
            "claimed_until": sa.case(
                (_KEY_FREE, db_now_plus(sa.bindparam("claim_seconds", type_=sa.Float))),
                else_=None,
            ),
        }
    )
    .returning(_o.claimed_by)
)


class DatabaseUnitOfWork:
    """A `databases` transaction exposed as the service layer's UnitOfWork."""

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
        self.users = DatabaseUsers(database)
        self.outbox = DatabaseOutbox(
            database,
            owner=dispatcher.fast_path_owner if dispatcher is not None else None,
            claim_ttl=timedelta(seconds=claim_ttl),
        )
        self.commands = DatabaseCommandLog(database, clock)
        self.idempotency = DatabaseIdempotencyKeys(database)
        self._transaction: Any = None

    async def __aenter__(self) -> DatabaseUnitOfWork:
        try:
            # Taking a connection from a busy pool is bounded: a 503, not an endless wait.
            async with asyncio.timeout(self._acquire_timeout):
                self._transaction = await self._db.transaction().__aenter__()
        except Exception as exc:
            if is_unavailable(exc):
                self._forget_broken_connection()
                raise unavailable(exc) from exc
            raise
        return self

    def _forget_broken_connection(self) -> None:
        # `databases` keeps one connection wrapper per task. After the connection broke in
        # a transaction, that wrapper still points at a connection the pool has taken back,
        # and the task's next query (looking for the row, say) fails on it with
        # "connection has been released back to the pool". Dropped, the next query
        # acquires a fresh connection.
        self._db._connection = None

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        transaction, self._transaction = self._transaction, None
        if exc is not None:
            # Rolling back: whatever happens now, nothing was committed.
            try:
                await transaction.__aexit__(exc_type, exc, tb)
            except Exception as error:
                if not is_unavailable(error):
                    raise
            if is_unavailable(exc):
                self._forget_broken_connection()
                raise unavailable(exc) from exc
            return  # the body's own exception goes on
        try:
            await transaction.__aexit__(None, None, None)
        except Exception as error:
            if is_unavailable(error):
                # The COMMIT may have reached the server before the connection broke:
                # only the database can say whether it happened.
                self._forget_broken_connection()
                raise OutcomeUnknown(f"commit outcome unknown: {type(error).__name__}") from error
            raise
        if self._dispatcher is not None and self.outbox.claimed:
            claimed, self.outbox.claimed = self.outbox.claimed, []
            self._dispatcher.dispatch(claimed)
