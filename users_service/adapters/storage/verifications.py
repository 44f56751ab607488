"""What the verifier records, and the reconciliation of stored users against verified events."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import databases
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from users_service.adapters.storage import schema
from users_service.adapters.storage.database import DatabaseAccess, is_sqlite, read_timestamp
from users_service.adapters.storage.errors import unavailable_as_storage_error
from users_service.adapters.storage.statements import Prepared
from users_service.adapters.storage.users import row_to_user
from users_service.domain.clock import utc_now
from users_service.domain.model import User
from users_service.domain.verification import VerificationOutcome
from users_service.service_layer.ports import Reconciliation

# On PostgreSQL a batch of any size is one statement compiled once (statements.Prepared),
# its values as arrays: through `databases`, the IN list and the multi-row VALUES would be
# compiled again for every batch, on the worker's main thread.
_v = schema.event_verifications.c


def _array(name: str) -> sa.BindParameter[Any]:
    return sa.bindparam(name, type_=postgresql.ARRAY(sa.String))


def _unnest(name: str) -> sa.Function[Any]:
    # Cast: statements.Prepared sends no parameter types, and unnest(unknown) is ambiguous.
    return sa.func.unnest(sa.cast(_array(name), postgresql.ARRAY(sa.String)))


_USERS_ON_POSTGRES = Prepared(
    schema.users.select().where(schema.users.c.id == sa.any_(_array("ids")))
)
_RECORD_ON_POSTGRES = Prepared(
    postgresql_insert(schema.event_verifications)
    .from_select(
        ["event_id", "aggregate_id", "outcome", "reason", "verified_at"],
        sa.select(
            _unnest("event_ids"),
            _unnest("aggregate_ids"),
            _unnest("outcomes"),
            _unnest("reasons"),
            sa.cast(sa.bindparam("verified_at", type_=_v.verified_at.type), _v.verified_at.type),
        ),
    )
    .on_conflict_do_nothing(index_elements=["event_id"])
    .returning(_v.event_id)
)


class DatabaseVerificationStore(DatabaseAccess):
    """VerificationStore on `event_verifications`, reading users from `users`."""

    def __init__(
        self, database: databases.Database, clock: Callable[[], datetime] = utc_now
    ) -> None:
        super().__init__(database, clock)
        self._sqlite = is_sqlite(str(database.url))

    async def get_users(self, user_ids: Sequence[str]) -> dict[str, User]:
        if not user_ids:
            return {}
        async with unavailable_as_storage_error():
            if self._sqlite:
                rows = await self._db.fetch_all(
                    schema.users.select().where(schema.users.c.id.in_(list(user_ids)))
                )
            else:
                rows = await _USERS_ON_POSTGRES.fetch_all(self._db, ids=list(user_ids))
        return {row["id"]: row_to_user(row) for row in rows}

    async def record_many(self, outcomes: Sequence[VerificationOutcome]) -> set[str]:
        if not outcomes:
            return set()
        now = self._clock()
        if not self._sqlite:
            async with unavailable_as_storage_error():
                rows = await _RECORD_ON_POSTGRES.fetch_all(
                    self._db,
                    event_ids=[o.event_id for o in outcomes],
                    aggregate_ids=[o.aggregate_id for o in outcomes],
                    outcomes=[o.outcome for o in outcomes],
                    reasons=[o.reason for o in outcomes],
                    verified_at=now,
                )
            return {row[0] for row in rows}
        insert = (sqlite_insert if self._sqlite else postgresql_insert)(schema.event_verifications)
        query = (
            insert.values(
                [
                    {
                        "event_id": o.event_id,
                        "aggregate_id": o.aggregate_id,
                        "outcome": o.outcome,
                        "reason": o.reason,
                        "verified_at": now,
                    }
                    for o in outcomes
                ]
            )
            .on_conflict_do_nothing(index_elements=["event_id"])
            .returning(schema.event_verifications.c.event_id)
        )
        async with unavailable_as_storage_error():
            rows = await self._db.fetch_all(query)
        return {row[0] for row in rows}

    async def reconcile(self) -> Reconciliation:
        """Users whose event is not verified yet, and events whose user does not exist."""
        u, v = schema.users, schema.event_verifications
        verified = (
            sa.select(v.c.event_id)
            .where(v.c.aggregate_id == u.c.id, v.c.outcome == "verified")
            .exists()
        )
        async with unavailable_as_storage_error():
            row = await self._db.fetch_one(
                sa.select(sa.func.count(), sa.func.min(u.c.created_at)).where(~verified)
            )
            orphans = await self._db.fetch_val(
                sa.select(sa.func.count()).select_from(v).where(v.c.reason == "user_not_stored")
            )
        assert row is not None
        return Reconciliation(
            unverified_users=int(row[0]),
            oldest_unverified_created_at=read_timestamp(row[1]),
            events_without_user=int(orphans or 0),
        )
