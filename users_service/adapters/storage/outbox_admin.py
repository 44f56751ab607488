"""What operators do to the outbox (`users-service outbox …`, `backfill`): read the relay
lease, put parked rows back, queue published events again, find users without an event.

Nothing here talks to Kafka: rows put back or added are published by the relay of any
running worker, with the outbox's guarantees (per-key order, retries, parking).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from users_service.adapters.storage import schema
from users_service.adapters.storage.database import DatabaseAccess, read_timestamp
from users_service.adapters.storage.db_clock import db_now
from users_service.adapters.storage.outbox_store import RELAY_LEASE
from users_service.adapters.storage.unit_of_work import encode_headers
from users_service.adapters.storage.users import row_to_user
from users_service.domain.model import USER_AGGREGATE, USER_CREATED, User

_o = schema.outbox
_u = schema.users
_leases = schema.relay_leases


@dataclass(frozen=True)
class LeaseState:
    """Who holds the relay lease, until when (database clock), and whether it has lapsed."""

    holder: str | None
    expires_at: datetime | None
    generation: int
    lapsed: bool


class DatabaseOutboxAdmin(DatabaseAccess):
    """Operators' writes and reads on the `outbox`, `users` and lease tables."""

    async def lease(self) -> LeaseState:
        """The relay lease as stored now."""
        query = sa.select(_leases.c.holder, _leases.c.expires_at, _leases.c.generation).where(
            _leases.c.name == RELAY_LEASE
        )
        row = await self._db.fetch_one(query)
        if row is None:
            return LeaseState(None, None, 0, True)
        # Lapsed or not by the database's clock, the one the relays themselves go by.
        held = await self._db.fetch_one(query.where(_leases.c.expires_at >= db_now()))
        return LeaseState(row[0], read_timestamp(row[1]), int(row[2]), held is None)

    async def retry_parked(self, event_ids: Sequence[str] = ()) -> int:
        """Put parked rows (all, or those of `event_ids`) back in the queue with their
        attempts reset; return how many."""
        query = (
            _o.update()
            .where(_o.c.parked_at.is_not(None), _o.c.published_at.is_(None))
            .values(parked_at=None, attempts=0, last_error=None, claimed_by=None)
        )
        if event_ids:
            query = query.where(_o.c.event_id.in_(list(event_ids)))
        rows = await self._db.fetch_all(query.returning(_o.c.id))
        return len(rows)

    async def requeue_published(
        self,
        *,
        since: datetime,
        until: datetime,
        aggregate_id: str | None,
        marker: tuple[str, str],
        limit: int = 1000,
    ) -> int:
        """Queue again up to `limit` published rows created in [since, until) (of one
        aggregate, if given), adding the `marker` header; they keep their event id, so
        consumers that dedup by it ignore what they already have. Return how many."""
        query = (
            sa.select(_o.c.id, _o.c.headers)
            .where(_o.c.published_at.is_not(None))
            .where(_o.c.created_at >= since, _o.c.created_at < until)
            .order_by(_o.c.id)
            .limit(limit)
        )
        if aggregate_id is not None:
            query = query.where(_o.c.aggregate_id == aggregate_id)
        async with self._db.transaction():
            rows = await self._db.fetch_all(query)
            for row in rows:
                headers = {**json.loads(row[1]), marker[0]: marker[1]}
                await self._db.execute(
                    _o.update()
                    .where(_o.c.id == row[0])
                    .values(
                        published_at=None,
                        attempts=0,
                        claimed_by=None,
                        claimed_until=None,
                        headers=encode_headers(headers),
                    )
                )
        return len(rows)

    async def users_without_event(self, limit: int) -> list[User]:
        """Up to `limit` stored users, oldest id first, with no USER_CREATED row in the
        outbox (created before it existed, or their row was purged after retention)."""
        rows = await self._db.fetch_all(
            sa.select(_u).where(~_has_event()).order_by(_u.c.id).limit(limit)
        )
        return [row_to_user(row) for row in rows]

    async def count_users_without_event(self) -> int:
        """How many stored users have no USER_CREATED row in the outbox."""
        value = await self._db.fetch_val(
            sa.select(sa.func.count()).select_from(_u).where(~_has_event())
        )
        return int(value or 0)


def _has_event() -> sa.Exists:
    return (
        sa.select(_o.c.id)
        .where(
            _o.c.aggregate_type == USER_AGGREGATE,
            _o.c.event_type == USER_CREATED,
            _o.c.aggregate_id == _u.c.id,
        )
        .exists()
    )
