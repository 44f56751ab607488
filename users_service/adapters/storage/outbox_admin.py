"""What operators do to the outbox (`users-service outbox …`, `backfill`): read the relay
lease, put parked rows back, queue published events again, find users without an event.

Nothing here talks to Kafka: rows put back or added are published by the relay of any
running worker, with the outbox's guarantees (per-key order, retries, parking).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from users_service.adapters.storage import schema
from users_service.adapters.storage.database import DatabaseAccess, is_sqlite, read_timestamp
from users_service.adapters.storage.db_clock import db_now
from users_service.adapters.storage.outbox_store import RELAY_LEASE
from users_service.adapters.storage.users import row_to_user
from users_service.domain.model import USER_AGGREGATE, USER_CREATED, User

_o = schema.outbox
_u = schema.users
_leases = schema.relay_leases


@dataclass(frozen=True)
class ReplayWindow:
    """What one `outbox replay` covers, fixed when it starts: rows created in [since,
    until), of `aggregate_id` if given, with an id up to `last_id` (None: no such row)."""

    since: datetime
    until: datetime
    aggregate_id: str | None
    last_id: int | None


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

    async def replay_window(
        self, *, since: datetime, until: datetime, aggregate_id: str | None
    ) -> ReplayWindow:
        """The rows a replay may queue again, fixed now: those created in [since, until)
        (of one aggregate, if given) up to the highest id stored at this moment."""
        query = sa.select(sa.func.max(_o.c.id)).where(*_in_window(since, until, aggregate_id))
        last = await self._db.fetch_val(query)
        return ReplayWindow(since, until, aggregate_id, None if last is None else int(last))

    async def requeue_published(
        self, window: ReplayWindow, *, after: int, marker: tuple[str, str], limit: int = 1000
    ) -> tuple[int, int]:
        """Queue again, in one statement, the published rows of `window` after id `after`,
        lowest id first, up to `limit` of them, adding the `marker` header; they keep their
        event id, so consumers that dedup by it ignore what they already have. Return how
        many, and the highest id queued (`after` when none): the next pass starts there,
        so a row the relay has published again meanwhile is not taken twice."""
        if window.last_id is None:
            return 0, after
        page = (
            sa.select(_o.c.id)
            .where(*_in_window(window.since, window.until, window.aggregate_id))
            .where(_o.c.published_at.is_not(None))
            .where(_o.c.id > after, _o.c.id <= window.last_id)
            .order_by(_o.c.id)
            .limit(limit)
            .scalar_subquery()
        )
        query = (
            _o.update()
            .where(_o.c.id.in_(page), _o.c.published_at.is_not(None))
            .values(
                published_at=None,
                attempts=0,
                claimed_by=None,
                claimed_until=None,
                headers=self._with_header(*marker),
            )
            .returning(_o.c.id)
        )
        ids = [int(row[0]) for row in await self._db.fetch_all(query)]
        return len(ids), max(ids, default=after)

    def _with_header(self, name: str, value: str) -> sa.ColumnElement[str]:
        """The row's headers (a JSON object as text) with `name` set to `value`, in SQL."""
        if is_sqlite(str(self._db.url)):
            return sa.func.json_set(_o.c.headers, f'$."{name}"', value)
        added = sa.func.jsonb_build_object(
            sa.cast(sa.literal(name), sa.Text), sa.cast(sa.literal(value), sa.Text)
        )
        return sa.cast(sa.cast(_o.c.headers, JSONB).op("||")(added), sa.Text)

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


def _in_window(
    since: datetime, until: datetime, aggregate_id: str | None
) -> list[sa.ColumnElement[bool]]:
    conditions = [_o.c.created_at >= since, _o.c.created_at < until, ~_of_erased_user()]
    if aggregate_id is not None:
        conditions.append(_o.c.aggregate_id == aggregate_id)
    return conditions


def _of_erased_user() -> sa.ColumnElement[bool]:
    """A USER_CREATED of an erased user: never queued again (docs/erasure.md). Erasure
    deletes those rows; this holds even for one written after it (a racing backfill)."""
    erased = schema.erased_users
    return sa.and_(
        _o.c.event_type == USER_CREATED,
        sa.select(erased.c.user_id).where(erased.c.user_id == _o.c.aggregate_id).exists(),
    )


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
