"""What the verifier records, and the reconciliation of stored users against verified events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import databases
import sqlalchemy as sa

from storage import schema
from storage.errors import UNIQUE_VIOLATIONS
from storage.unit_of_work import DatabaseUsers, as_utc
from users.model import User


@dataclass(frozen=True)
class Reconciliation:
    unverified_users: int
    oldest_unverified_created_at: datetime | None
    events_without_user: int


class DatabaseVerificationStore:
    """VerificationStore on `event_verifications`, reading users from `users`."""

    def __init__(self, database: databases.Database) -> None:
        self._db = database
        self._users = DatabaseUsers(database)

    async def get_user(self, user_id: str) -> User | None:
        return await self._users.get(user_id)

    async def record(
        self, event_id: str, aggregate_id: str | None, outcome: str, reason: str | None
    ) -> bool:
        try:
            await self._db.execute(
                schema.event_verifications.insert().values(
                    event_id=event_id,
                    aggregate_id=aggregate_id,
                    outcome=outcome,
                    reason=reason,
                    verified_at=datetime.now(UTC),
                )
            )
        except UNIQUE_VIOLATIONS:
            return False
        return True

    async def reconcile(self) -> Reconciliation:
        """Users whose event is not verified yet, and events whose user does not exist."""
        u, v = schema.users, schema.event_verifications
        verified = (
            sa.select(v.c.event_id)
            .where(v.c.aggregate_id == u.c.id, v.c.outcome == "verified")
            .exists()
        )
        row = await self._db.fetch_one(
            sa.select(sa.func.count(), sa.func.min(u.c.created_at)).where(~verified)
        )
        assert row is not None
        oldest = row[1]
        if isinstance(oldest, str):  # SQLite's min() loses the column type
            oldest = datetime.fromisoformat(oldest)
        orphans = await self._db.fetch_val(
            sa.select(sa.func.count()).select_from(v).where(v.c.reason == "user_not_stored")
        )
        return Reconciliation(
            unverified_users=int(row[0]),
            oldest_unverified_created_at=as_utc(oldest) if oldest else None,
            events_without_user=int(orphans or 0),
        )
