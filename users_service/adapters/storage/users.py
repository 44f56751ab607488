"""The `users` table: the UserRepository inside a unit of work, UserQueries outside one."""

from __future__ import annotations

from typing import Any

import databases
import sqlalchemy as sa

from users_service.adapters.storage import schema
from users_service.adapters.storage.errors import unavailable_as_storage_error
from users_service.adapters.storage.statements import Prepared
from users_service.adapters.storage.writes import (
    Immediate,
    Write,
    Writes,
    conflict_on,
    insert_every_column,
)
from users_service.domain.clock import as_utc
from users_service.domain.errors import EmailAlreadyRegistered
from users_service.domain.model import User

_EMAIL_EXISTS = Prepared(
    sa.select(schema.users.c.id).where(schema.users.c.email == sa.bindparam("email")).limit(1)
)
INSERT_USER = insert_every_column(schema.users)


class DatabaseUsers:
    """UserRepository and UserQueries on the `users` table. Reads work inside a unit of
    work or on their own (autocommit); either way an unreachable database is
    StorageUnavailable."""

    def __init__(
        self,
        database: databases.Database,
        timeout: float | None = None,
        writes: Writes | None = None,
    ) -> None:
        self._db = database
        self._timeout = timeout
        self._writes = writes if writes is not None else Immediate(database)

    async def email_exists(self, email: str) -> bool:
        async with unavailable_as_storage_error(self._timeout):
            return await _EMAIL_EXISTS.fetch_one(self._db, email=email) is not None

    async def add(self, user: User) -> None:
        values = {
            "id": user.id,
            "nombre": user.nombre,
            "email": user.email,
            "password_hash": user.password_hash,
            "created_at": user.created_at,
        }
        taken = conflict_on(
            "users_email_key", "users.email", lambda: EmailAlreadyRegistered(user.email)
        )
        await self._writes.submit(Write(INSERT_USER, values, conflict=taken))

    async def get(self, user_id: str) -> User | None:
        async with unavailable_as_storage_error(self._timeout):
            row = await self._db.fetch_one(
                schema.users.select().where(schema.users.c.id == user_id)
            )
        return None if row is None else row_to_user(row)

    async def page(self, after: str | None, limit: int) -> list[User]:
        query = schema.users.select().order_by(schema.users.c.id).limit(limit)
        if after is not None:
            query = query.where(schema.users.c.id > after)
        async with unavailable_as_storage_error(self._timeout):
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
