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
            # The exact bytes to publish; every value is JSON, hence valid UTF-8.
            "payload": message.payload.decode("utf-8"),
            "headers": encode_headers(message.headers),
            "created_at": message.created_at,
        }
        # Only when nothing older is pending for this key may the creating worker publish
        # it at once: otherwise it would overtake the older event.
        if self._owner is not None and not await self._key_has_pending(message):
            # The claim runs on the database's clock, like the relay that honours it.
            await _INSERT_CLAIMED.execute(
                self._db, **values, claimed_by=self._owner, claim_seconds=self._claim_seconds
            )
            self.claimed.append(message)
        else:
            await _INSERT_UNCLAIMED.execute(self._db, **values)

    async def _key_has_pending(self, message: OutboxMessage) -> bool:
        row = await _KEY_HAS_PENDING.fetch_one(self._db, topic=message.topic, key=message.key)
        return row is not None


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
        "payload",
        "headers",
        "created_at",
    )
}
_INSERT_UNCLAIMED = Prepared(schema.outbox.insert().values(_COLUMNS))
_INSERT_CLAIMED = Prepared(
    schema.outbox.insert().values(
        {
            **_COLUMNS,
            "claimed_by": sa.bindparam("claimed_by", type_=_o.claimed_by.type),
            "claimed_until": db_now_plus(sa.bindparam("claim_seconds", type_=sa.Float)),
        }
    )
)
_KEY_HAS_PENDING = Prepared(
    sa.select(_o.id)
    .where(_o.topic == sa.bindparam("topic"), _o.message_key == sa.bindparam("key"))
    .where(_o.published_at.is_(None))
    .limit(1)
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
