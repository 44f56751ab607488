"""Erasure on the database: one transaction forgets a user in every table.

In one transaction: the user's row is deleted; its idempotency keys are deleted; its
USER_CREATED rows in the outbox are deleted, published or not (a pending one is then never
published, a published one keeps nothing to replay); rejections of commands that named
its email are deleted; its verification records are marked `erased` (they hold ids only);
the erasure is recorded as the id and the time (`erased_users`); USER_DELETED is queued in
the outbox, and an erase command's outcome is recorded in the command log. All or nothing.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from datetime import datetime

import databases
import sqlalchemy as sa

from users_service.adapters import trace_context
from users_service.adapters.storage import schema
from users_service.adapters.storage.database import DatabaseAccess, read_timestamp
from users_service.adapters.storage.errors import UNIQUE_VIOLATIONS, unavailable_as_storage_error
from users_service.adapters.storage.outbox_store import outbox_row
from users_service.domain.clock import utc_now
from users_service.domain.erasure import ERASED, NOT_FOUND, EraseOutcome, EraseResult, Erasure
from users_service.domain.errors import CommandAlreadyHandled
from users_service.domain.model import (
    USER_AGGREGATE,
    USER_CREATE_REJECTED,
    USER_CREATED,
    OutboxMessage,
)

_u = schema.users
_o = schema.outbox
_k = schema.idempotency_keys
_v = schema.event_verifications
_c = schema.processed_commands
_e = schema.erased_users


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class DatabaseErasure(DatabaseAccess):
    """The service layer's ErasureStore."""

    def __init__(
        self,
        database: databases.Database,
        clock: Callable[[], datetime] = utc_now,
        *,
        timeout: float | None = None,
    ) -> None:
        super().__init__(database, clock)
        self._timeout = timeout

    async def erase(
        self, user_id: str, deleted: OutboxMessage, *, command_id: str | None = None
    ) -> bool:
        """Forget `user_id` everywhere and queue `deleted`; False (nothing written but an
        erase command's `not_found`) when no such user is stored. Raises
        CommandAlreadyHandled when `command_id` was recorded meanwhile."""
        async with unavailable_as_storage_error(self._timeout):
            try:
                return await self._erase(user_id, deleted, command_id)
            except UNIQUE_VIOLATIONS:
                if command_id is None:
                    raise
                raise CommandAlreadyHandled(command_id) from None

    async def _erase(self, user_id: str, deleted: OutboxMessage, command_id: str | None) -> bool:
        now = self._clock()
        async with self._db.transaction():
            # The write first: it takes the row's lock (PostgreSQL) or the database's
            # (SQLite) before anything is read, so a concurrent creation or erasure waits.
            row = await self._db.fetch_one(
                _u.delete().where(_u.c.id == user_id).returning(_u.c.email)
            )
            if row is None:
                if command_id is not None:
                    await self._record(command_id, NOT_FOUND, user_id, now)
                return False
            email: str = row[0]
            await self._db.execute(_k.delete().where(_k.c.user_id == user_id))
            await self._db.execute(
                _o.delete().where(
                    _o.c.aggregate_type == USER_AGGREGATE,
                    _o.c.aggregate_id == user_id,
                    _o.c.event_type == USER_CREATED,
                )
            )
            await self._forget_rejections_naming(email)
            await self._db.execute(
                _v.update().where(_v.c.aggregate_id == user_id).values(outcome="erased")
            )
            await self._db.execute(_e.insert().values(user_id=user_id, erased_at=now))
            # USER_DELETED belongs to the erasure's trace, as USER_CREATED to the sign-up's.
            traceparent, tracestate = trace_context.current()
            deleted = dataclasses.replace(deleted, traceparent=traceparent, tracestate=tracestate)
            await self._db.execute(_o.insert().values(outbox_row(deleted)))
            if command_id is not None:
                await self._record(command_id, ERASED, user_id, now)
        return True

    async def _forget_rejections_naming(self, email: str) -> None:
        """A command refused because the email was taken (or invalid otherwise) echoed the
        email in its USER_CREATE_REJECTED: those rows go too, published or not."""
        candidates = await self._db.fetch_all(
            sa.select(_o.c.id, _o.c.payload).where(
                _o.c.event_type == USER_CREATE_REJECTED,
                _o.c.payload.like(f"%{_like_escaped(email)}%", escape="\\"),
            )
        )
        ids = [row[0] for row in candidates if _names_email(row[1], email)]
        if ids:
            await self._db.execute(_o.delete().where(_o.c.id.in_(ids)))

    async def forget_rejection_unless_registered(self, event_id: str, email: str) -> bool:
        """Delete the rejection `event_id` (which names `email`) when no user has `email`
        any more: True when it went. For a duplicate_email rejection, written after the
        check that found the email taken: the erasure of that user may have committed in
        between, after its own pass over the rejections. The lock on the user's row waits
        for an erasure in flight (PostgreSQL; SQLite's one writer orders them anyway), and
        one that starts later sees this rejection and deletes it itself."""
        async with unavailable_as_storage_error(self._timeout), self._db.transaction():
            taken = await self._db.fetch_one(
                sa.select(_u.c.id).where(_u.c.email == email).with_for_update(key_share=True)
            )
            if taken is not None:
                return False
            await self._db.execute(
                _o.delete().where(
                    _o.c.event_id == event_id, _o.c.event_type == USER_CREATE_REJECTED
                )
            )
            return True

    async def _record(self, command_id: str, outcome: str, user_id: str, now: datetime) -> None:
        await self._db.execute(
            _c.insert().values(
                command_id=command_id, outcome=outcome, user_id=user_id, processed_at=now
            )
        )

    async def command_outcome(self, command_id: str) -> EraseOutcome | None:
        """The recorded outcome of an erase command handled before, or None."""
        async with unavailable_as_storage_error(self._timeout):
            row = await self._db.fetch_one(
                sa.select(_c.c.outcome, _c.c.user_id).where(_c.c.command_id == command_id)
            )
        if row is None:
            return None
        # Another command kind recorded under this id (a CreateUser's): nothing to erase.
        result: EraseResult = (
            "erased" if row[0] == ERASED else "not_found" if row[0] == NOT_FOUND else "rejected"
        )
        return EraseOutcome(command_id, result, user_id=row[1], duplicate=True)

    async def erased_among(self, user_ids: Sequence[str]) -> set[str]:
        """The ids among `user_ids` that were erased."""
        if not user_ids:
            return set()
        async with unavailable_as_storage_error(self._timeout):
            rows = await self._db.fetch_all(
                sa.select(_e.c.user_id).where(_e.c.user_id.in_(list(user_ids)))
            )
        return {row[0] for row in rows}

    async def erased_since(self, since: datetime, limit: int = 10_000) -> list[Erasure]:
        """Erasures at or after `since`, oldest first (ids and times: all there is)."""
        async with unavailable_as_storage_error(self._timeout):
            rows = await self._db.fetch_all(
                sa.select(_e.c.user_id, _e.c.erased_at)
                .where(_e.c.erased_at >= since)
                .order_by(_e.c.erased_at, _e.c.user_id)
                .limit(limit)
            )
        erasures = []
        for row in rows:
            at = read_timestamp(row[1])
            assert at is not None
            erasures.append(Erasure(row[0], at))
        return erasures


def _names_email(payload: str, email: str) -> bool:
    try:
        return bool(json.loads(payload).get("email") == email)
    except (ValueError, AttributeError):
        return False
