"""The service layer: use cases, written against ports so tests can use fakes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from users.errors import EmailAlreadyRegistered
from users.model import User, new_id, user_created, utc_now_ms
from users.ports import EventDispatcher, PasswordHasher, UnitOfWorkFactory
from users.validation import validate_registration


@dataclass(frozen=True)
class UsersService:
    """Collaborators of the use cases, wired once in `bootstrap`."""

    uow: UnitOfWorkFactory
    hash_password: PasswordHasher
    events: EventDispatcher
    user_created_topic: str
    clock: Callable[[], datetime] = utc_now_ms
    ids: Callable[[], str] = new_id

    async def register(self, body: Any) -> User:
        """Validate, hash, store the user and its USER_CREATED event atomically, then publish.

        Raises InvalidInput, EmailAlreadyRegistered or StorageUnavailable; on any of them
        nothing was written.
        """
        registration = validate_registration(body)
        # Cheap early answer for the common duplicate, before paying for bcrypt;
        # the unique index still decides races.
        async with self.uow() as uow:
            if await uow.users.email_exists(registration.email):
                raise EmailAlreadyRegistered(registration.email)
        password_hash = await self.hash_password(registration.password)
        now = self.clock()
        user = User(
            id=self.ids(),
            nombre=registration.nombre,
            email=registration.email,
            created_at=now,
            password_hash=password_hash,
        )
        event = user_created(user, topic=self.user_created_topic, event_id=self.ids(), at=now)
        async with self.uow() as uow:
            await uow.users.add(user)
            claimed = await uow.outbox.add(event, claimed_by=self.events.fast_path_owner)
        if claimed:
            self.events.dispatch([event])
        return user

    async def get(self, user_id: str) -> User | None:
        """The stored user with this id, or None."""
        async with self.uow() as uow:
            return await uow.users.get(user_id)
