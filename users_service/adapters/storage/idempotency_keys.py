"""`idempotency_keys`: the Idempotency-Key of each POST that created a user."""

from __future__ import annotations

from datetime import datetime, timedelta

import databases
import sqlalchemy as sa

from users_service.adapters.storage import schema
from users_service.adapters.storage.db_clock import db_now
from users_service.adapters.storage.writes import (
    Immediate,
    Template,
    Write,
    Writes,
    conflict_on,
    insert_every_column,
)
from users_service.domain.errors import IdempotencyKeyTaken


class DatabaseIdempotencyKeys:
    """IdempotencyKeys on `idempotency_keys`."""

    def __init__(self, database: databases.Database, writes: Writes | None = None) -> None:
        self._db = database
        self._writes = writes if writes is not None else Immediate(database)

    async def purge_expired(self, limit: int) -> int:
        """Delete up to `limit` keys that have expired (a Purge, run by the relay leader)."""
        t = schema.idempotency_keys
        expired = (
            sa.select(t.c.key)
            .where(t.c.expires_at < db_now())
            .order_by(t.c.expires_at)
            .limit(limit)
            .scalar_subquery()
        )
        return len(
            await self._db.fetch_all(t.delete().where(t.c.key.in_(expired)).returning(t.c.key))
        )

    async def find(self, key: str, now: datetime) -> tuple[str, str] | None:
        t = schema.idempotency_keys
        row = await self._db.fetch_one(
            sa.select(t.c.fingerprint, t.c.user_id).where(t.c.key == key, t.c.expires_at > now)
        )
        return None if row is None else (row["fingerprint"], row["user_id"])

    async def save(
        self, key: str, fingerprint: str, user_id: str, now: datetime, ttl: float
    ) -> None:
        await self._writes.submit(Write(_DELETE_EXPIRED, {"key": key, "now": now}))
        values = {
            "key": key,
            "fingerprint": fingerprint,
            "user_id": user_id,
            "created_at": now,
            "expires_at": now + timedelta(seconds=ttl),
        }
        await self._writes.submit(
            Write(
                _INSERT_KEY,
                values,
                conflict=conflict_on(
                    "idempotency_keys_pkey",
                    "idempotency_keys.key",
                    lambda: IdempotencyKeyTaken(key),
                ),
            )
        )


_k = schema.idempotency_keys.c
# The INSERT must see this DELETE's effect, so it cannot share a statement's snapshot.
_DELETE_EXPIRED = Template(
    lambda prefix: schema.idempotency_keys.delete().where(
        _k.key == sa.bindparam(prefix + "key", type_=_k.key.type),
        _k.expires_at <= sa.bindparam(prefix + "now", type_=_k.expires_at.type),
    ),
    chainable=False,
)
_INSERT_KEY = insert_every_column(schema.idempotency_keys)
