"""The outbox as the relay sees it: pending rows, the relay lease, retention."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa

from users_service.adapters.storage import schema
from users_service.adapters.storage.database import DatabaseAccess, read_timestamp
from users_service.adapters.storage.errors import UNIQUE_VIOLATIONS, unavailable_as_storage_error
from users_service.domain.clock import as_utc
from users_service.service_layer.outbox.ports import Backlog, PendingMessage

RELAY_LEASE = "outbox-relay"


class DatabaseOutboxStore(DatabaseAccess):
    """OutboxStore on the `outbox` and `outbox_relay_leases` tables."""

    async def acquire_lease(self, holder: str, ttl: float) -> bool:
        now = self._clock()
        leases = schema.relay_leases
        with contextlib.suppress(*UNIQUE_VIOLATIONS):  # the row exists: the usual case
            await self._db.execute(
                leases.insert().values(name=RELAY_LEASE, holder=None, expires_at=None)
            )
        # One atomic conditional update decides the leader; RETURNING tells us who won.
        query = (
            leases.update()
            .where(leases.c.name == RELAY_LEASE)
            .where(
                sa.or_(
                    leases.c.holder == holder,
                    leases.c.holder.is_(None),
                    leases.c.expires_at.is_(None),
                    leases.c.expires_at < now,
                )
            )
            .values(holder=holder, expires_at=now + timedelta(seconds=ttl))
            .returning(leases.c.holder)
        )
        return await self._db.fetch_one(query) is not None

    async def release_lease(self, holder: str) -> None:
        leases = schema.relay_leases
        await self._db.execute(
            leases.update()
            .where(leases.c.name == RELAY_LEASE, leases.c.holder == holder)
            .values(holder=None, expires_at=None)
        )

    async def pending(self, limit: int) -> list[PendingMessage]:
        now = self._clock()
        o = schema.outbox
        older = o.alias("older")
        # An older unpublished row of the same key that someone's fast path still holds
        # must go first; skipping its successors keeps per-key order.
        held_back = (
            sa.select(older.c.id)
            .where(older.c.topic == o.c.topic, older.c.message_key == o.c.message_key)
            .where(older.c.id < o.c.id, older.c.published_at.is_(None))
            .where(older.c.claimed_until.is_not(None), older.c.claimed_until >= now)
            .exists()
        )
        query = (
            sa.select(
                o.c.event_id,
                o.c.event_type,
                o.c.topic,
                o.c.message_key,
                o.c.payload,
                o.c.headers,
                o.c.created_at,
            )
            .where(o.c.published_at.is_(None))
            .where(sa.or_(o.c.claimed_until.is_(None), o.c.claimed_until < now))
            .where(~held_back)
            .order_by(o.c.id)
            .limit(limit)
        )
        rows = await self._db.fetch_all(query)
        return [
            PendingMessage(
                event_id=row["event_id"],
                event_type=row["event_type"],
                topic=row["topic"],
                key=row["message_key"],
                payload=row["payload"].encode("utf-8"),
                headers=json.loads(row["headers"]),
                created_at=as_utc(row["created_at"]),
            )
            for row in rows
        ]

    async def mark_published(self, event_ids: Sequence[str]) -> None:
        o = schema.outbox
        await self._db.execute(
            o.update()
            .where(o.c.event_id.in_(list(event_ids)))
            .values(published_at=self._clock(), claimed_by=None, claimed_until=None)
        )

    async def mark_failed(self, event_ids: Sequence[str], error: str) -> None:
        o = schema.outbox
        await self._db.execute(
            o.update()
            .where(o.c.event_id.in_(list(event_ids)), o.c.published_at.is_(None))
            .values(
                attempts=o.c.attempts + 1,
                last_error=error[:500],
                claimed_by=None,
                claimed_until=None,
            )
        )

    async def purge_published(self, older_than: datetime) -> int:
        o = schema.outbox
        rows = await self._db.fetch_all(
            o.delete()
            .where(o.c.published_at.is_not(None), o.c.published_at < older_than)
            .returning(o.c.id)
        )
        return len(rows)

    async def backlog(self) -> Backlog:
        o = schema.outbox
        async with unavailable_as_storage_error():
            row = await self._db.fetch_one(
                sa.select(sa.func.count(), sa.func.min(o.c.created_at)).where(
                    o.c.published_at.is_(None)
                )
            )
        assert row is not None
        return Backlog(pending=int(row[0]), oldest_pending_created_at=read_timestamp(row[1]))
