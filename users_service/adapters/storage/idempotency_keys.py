"""`idempotency_keys`: the Idempotency-Key of each POST that created a user."""

from __future__ import annotations

from datetime import datetime, timedelta

import databases
import sqlalchemy as sa

from users_service.adapters.storage import schema
from users_service.adapters.storage.db_clock import db_now
from users_service.adapters.storage.errors import UNIQUE_VIOLATIONS
from users_service.domain.errors import IdempotencyKeyTaken


class DatabaseIdempotencyKeys:
    """IdempotencyKeys on `idempotency_keys`."""

    def __init__(self, database: databases.Database) -> None:
        self._db = database

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
        t = schema.idempotency_keys
        await self._db.execute(t.delete().where(t.c.key == key, t.c.expires_at <= now))
        try:
            await self._db.execute(
                t.insert().values(
                    key=key,
                    fingerprint=fingerprint,
                    user_id=user_id,
                    created_at=now,
                    expires_at=now + timedelta(seconds=ttl),
                )
            )
        except UNIQUE_VIOLATIONS:
            raise IdempotencyKeyTaken(key) from None
