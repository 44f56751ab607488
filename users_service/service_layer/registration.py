"""The registration use case (HTTP): validate, hash (shedding load), store the user and its
event; an Idempotency-Key makes a retry return the first user."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from users_service.domain.errors import (
    EmailAlreadyRegistered,
    IdempotencyKeyReused,
    IdempotencyKeyTaken,
    InvalidInput,
    Overloaded,
)
from users_service.domain.model import User
from users_service.domain.validation import Registration, validate_registration
from users_service.service_layer.counts import OutcomeCounts
from users_service.service_layer.new_user import NewUsers
from users_service.service_layer.ports import PasswordHasher, UnitOfWork


@dataclass(frozen=True)
class Idempotency:
    """A request's Idempotency-Key and the fingerprint of its body (`web.requests`)."""

    key: str
    fingerprint: str


@dataclass(frozen=True)
class RegisterUser:
    """A sign-up as the edge read it: the request's JSON object, and its idempotency."""

    body: Mapping[str, Any]
    idempotency: Idempotency | None = None


@dataclass(frozen=True)
class UserRegistration:
    """`register`, wired once (`streamapp.wiring`)."""

    new_users: NewUsers
    passwords: PasswordHasher
    idempotency_ttl: float = 24 * 3600.0
    counts: OutcomeCounts = field(default_factory=OutcomeCounts)

    async def register(self, request: RegisterUser) -> User:
        """Validate, hash, store the user and its USER_CREATED event atomically, then publish.

        With an idempotency key, a retry of the same body returns the user the first
        request created, and creates nothing. Raises InvalidInput, EmailAlreadyRegistered,
        IdempotencyKeyReused or StorageUnavailable; on any of them nothing was written.
        """
        try:
            return await self._register(request)
        except InvalidInput:
            self.counts.rejected["http", "invalid"] += 1
            raise
        except EmailAlreadyRegistered:
            self.counts.rejected["http", "duplicate_email"] += 1
            raise
        except IdempotencyKeyReused:
            self.counts.rejected["http", "idempotency_key_reused"] += 1
            raise
        except Overloaded:
            self.counts.rejected["http", "overloaded"] += 1
            raise

    def turn_away(self) -> bool:
        """True, and counted as refused, when a sign-up would be refused for overload right
        now (its hash could not even queue): the edge answers it before reading it."""
        if self.passwords.saturated:
            self.counts.rejected["http", "overloaded"] += 1
            return True
        return False

    async def _register(self, request: RegisterUser) -> User:
        registration = validate_registration(request.body)
        assert registration.password is not None  # HTTP always sends the password
        idempotency = request.idempotency
        if idempotency is None:
            return await self._create(registration)
        # Errors are not stored: validation and "email taken" answer the same way again.
        replayed = await self._replay(idempotency, registration.password)
        if replayed is not None:
            return replayed
        try:
            return await self._create(registration, idempotency)
        except (EmailAlreadyRegistered, IdempotencyKeyTaken):
            # A concurrent request with the same key may have won the race.
            replayed = await self._replay(idempotency, registration.password)
            if replayed is not None:
                return replayed
            raise

    async def _create(
        self, registration: Registration, idempotency: Idempotency | None = None
    ) -> User:
        await self.new_users.ensure_email_free(registration.email)
        assert registration.password is not None
        # HTTP sheds load: a 503 the client retries.
        password_hash = await self.passwords.hash(registration.password, shed=True)

        async def save_key(uow: UnitOfWork, user: User) -> None:
            if idempotency is not None:
                await uow.idempotency.save(
                    idempotency.key,
                    idempotency.fingerprint,
                    user.id,
                    user.created_at,
                    self.idempotency_ttl,
                )

        user = await self.new_users.store(
            registration, password_hash, command_id=None, also=save_key
        )
        self.counts.created["http"] += 1
        return user

    async def _replay(self, idempotency: Idempotency, password: str) -> User | None:
        async with self.new_users.uow() as uow:
            found = await uow.idempotency.find(idempotency.key, self.new_users.clock())
            user = await uow.users.get(found[1]) if found else None
        if found is None or user is None:
            return None
        if found[0] != idempotency.fingerprint or not await self.passwords.verify(
            password, user.password_hash, shed=True
        ):
            raise IdempotencyKeyReused(idempotency.key)
        return user
