"""The unit of work over `databases`: one transaction, the users table and the outbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

import databases
import sqlalchemy as sa

from outbox.encoding import encode_headers, encode_payload
from storage import schema
from storage.errors import CONNECTION_ERRORS, UNIQUE_VIOLATIONS, unavailable_as_storage_error
from storage.statements import Prepared
from users.commands import CommandOutcome
from users.errors import (
    CommandAlreadyHandled,
    EmailAlreadyRegistered,
    IdempotencyKeyTaken,
    StorageUnavailable,
)
from users.model import OutboxMessage, User


def as_utc(value: datetime) -> datetime:
    """SQLite hands timestamps back naive; every stored timestamp is UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _is_email_conflict(exc: BaseException) -> bool:
    constraint = getattr(exc, "constraint_name", None)
    if constraint is not None:
        return bool(constraint == "users_email_key")
    return "users.email" in str(exc)


_EMAIL_EXISTS = Prepared(
    sa.select(schema.users.c.id).where(schema.users.c.email == sa.bindparam("email")).limit(1)
)
_INSERT_USER = Prepared(
    schema.users.insert().values(
        {c.name: sa.bindparam(c.name, type_=c.type) for c in schema.users.columns}
    )
)


class DatabaseUsers:
    """UserRepository and UserQueries on the `users` table. Reads work inside a unit of
    work or on their own (autocommit); either way an unreachable database is
    StorageUnavailable."""

    def __init__(self, database: databases.Database) -> None:
        self._db = database

    async def email_exists(self, email: str) -> bool:
        async with unavailable_as_storage_error():
            return await _EMAIL_EXISTS.fetch_one(self._db, email=email) is not None

    async def add(self, user: User) -> None:
        try:
            await _INSERT_USER.execute(
                self._db,
                id=user.id,
                nombre=user.nombre,
                email=user.email,
                password_hash=user.password_hash,
                created_at=user.created_at,
            )
        except UNIQUE_VIOLATIONS as exc:
            if _is_email_conflict(exc):
                raise EmailAlreadyRegistered(user.email) from None
            raise

    async def get(self, user_id: str) -> User | None:
        async with unavailable_as_storage_error():
            row = await self._db.fetch_one(
                schema.users.select().where(schema.users.c.id == user_id)
            )
        return None if row is None else row_to_user(row)

    async def page(self, after: str | None, limit: int) -> list[User]:
        query = schema.users.select().order_by(schema.users.c.id).limit(limit)
        if after is not None:
            query = query.where(schema.users.c.id > after)
        async with unavailable_as_storage_error():
            rows = await self._db.fetch_all(query)
        return [row_to_user(row) for row in rows]


def row_to_user(row: Any) -> User:
    return User(
        id=row["id"],
        nombre=row["nombre"],
        email=row["email"],
        created_at=as_utc(row["created_at"]),
        password_hash=row["password_hash"],
    )


class DatabaseOutbox:
    """Outbox writes inside the caller's transaction."""

    def __init__(self, database: databases.Database, claim_ttl: float) -> None:
        self._db = database
        self._claim_ttl = timedelta(seconds=claim_ttl)

    async def add(self, message: OutboxMessage, *, claimed_by: str | None) -> bool:
        values: dict[str, Any] = {
            "event_id": message.event_id,
            "aggregate_type": message.aggregate_type,
            "aggregate_id": message.aggregate_id,
            "event_type": message.event_type,
            "topic": message.topic,
            "message_key": message.key,
            "payload": encode_payload(message.payload),
            "headers": encode_headers(message.headers),
            "created_at": message.created_at,
        }
        claimed = claimed_by is not None and not await self._key_has_pending(message)
        if claimed:
            # Only when nothing older is pending for this key may the creating worker
            # publish it at once: otherwise it would overtake the older event.
            values["claimed_by"] = claimed_by
            values["claimed_until"] = datetime.now(UTC) + self._claim_ttl
        else:
            values["claimed_by"] = values["claimed_until"] = None
        await _INSERT_OUTBOX.execute(self._db, **values)
        return claimed

    async def _key_has_pending(self, message: OutboxMessage) -> bool:
        row = await _KEY_HAS_PENDING.fetch_one(self._db, topic=message.topic, key=message.key)
        return row is not None


_o = schema.outbox.c
_INSERT_OUTBOX = Prepared(
    schema.outbox.insert().values(
        {
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
                "claimed_by",
                "claimed_until",
            )
        }
    )
)
_KEY_HAS_PENDING = Prepared(
    sa.select(_o.id)
    .where(_o.topic == sa.bindparam("topic"), _o.message_key == sa.bindparam("key"))
    .where(_o.published_at.is_(None))
    .limit(1)
)


class DatabaseCommandLog:
    """CommandLog on `processed_commands`."""

    def __init__(self, database: databases.Database) -> None:
        self._db = database

    async def outcome(self, command_id: str) -> CommandOutcome | None:
        t = schema.processed_commands
        row = await self._db.fetch_one(t.select().where(t.c.command_id == command_id))
        if row is None:
            return None
        return CommandOutcome(
            command_id=row["command_id"],
            outcome=row["outcome"],
            user_id=row["user_id"],
            code=row["code"],
            duplicate=True,
        )

    async def record(self, outcome: CommandOutcome) -> None:
        assert outcome.command_id is not None
        try:
            await self._db.execute(
                schema.processed_commands.insert().values(
                    command_id=outcome.command_id,
                    outcome=outcome.outcome,
                    user_id=outcome.user_id,
                    code=outcome.code,
                    processed_at=datetime.now(UTC),
                )
            )
        except UNIQUE_VIOLATIONS:
            raise CommandAlreadyHandled(outcome.command_id) from None


class DatabaseIdempotencyKeys:
    """IdempotencyKeys on `idempotency_keys`."""

    def __init__(self, database: databases.Database) -> None:
        self._db = database

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


class DatabaseUnitOfWork:
    """A `databases` transaction exposed as the service layer's UnitOfWork."""

    def __init__(self, database: databases.Database, claim_ttl: float = 30.0) -> None:
        self._db = database
        self.users = DatabaseUsers(database)
        self.outbox = DatabaseOutbox(database, claim_ttl)
        self.commands = DatabaseCommandLog(database)
        self.idempotency = DatabaseIdempotencyKeys(database)
        self._transaction: Any = None

    async def __aenter__(self) -> DatabaseUnitOfWork:
        try:
            self._transaction = await self._db.transaction().__aenter__()
        except CONNECTION_ERRORS as exc:
            raise StorageUnavailable(f"database unavailable: {type(exc).__name__}") from exc
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        transaction, self._transaction = self._transaction, None
        try:
            await transaction.__aexit__(exc_type, exc, tb)
        except CONNECTION_ERRORS as error:
            # A commit that never reached the server: nothing was written.
            raise StorageUnavailable(f"database unavailable: {type(error).__name__}") from error
        if exc is not None and isinstance(exc, CONNECTION_ERRORS):
            raise StorageUnavailable(f"database unavailable: {type(exc).__name__}") from exc
