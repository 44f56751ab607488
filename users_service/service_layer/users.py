"""The service layer: use cases, written against ports so tests can use fakes."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from users_service.domain.clock import utc_now_ms
from users_service.domain.commands import CommandOutcome, bounded_problems, parse_create_user
from users_service.domain.errors import (
    CommandAlreadyHandled,
    EmailAlreadyRegistered,
    IdempotencyKeyReused,
    IdempotencyKeyTaken,
    InvalidInput,
    OutcomeUnknown,
    StorageUnavailable,
)
from users_service.domain.model import (
    Rejection,
    User,
    new_id,
    user_create_rejected,
    user_created,
)
from users_service.domain.validation import (
    Registration,
    validate_command_registration,
    validate_registration,
)
from users_service.service_layer import log_context
from users_service.service_layer.counts import OutcomeCounts
from users_service.service_layer.ports import (
    EventEncoder,
    PasswordHasher,
    UnitOfWorkFactory,
    UserQueries,
)


def body_fingerprint(body: Mapping[str, Any]) -> str:
    """SHA-256 of the request body without its password, which must not be stored in any
    fast-hash form; a retry's password is compared with bcrypt instead."""
    rest = {k: v for k, v in body.items() if k != "password"}
    return hashlib.sha256(json.dumps(rest, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class UsersService:
    """Collaborators of the use cases, wired once (`streamapp.wiring`)."""

    uow: UnitOfWorkFactory
    queries: UserQueries
    passwords: PasswordHasher
    encoder: EventEncoder
    user_created_topic: str
    user_create_rejected_topic: str = "user.create.rejected"
    idempotency_ttl: float = 24 * 3600.0
    # Commands: whether a plaintext password is accepted, and the least bcrypt cost of a
    # passwordHash a producer sends instead.
    accept_plaintext_commands: bool = True
    min_hash_rounds: int = 4
    clock: Callable[[], datetime] = utc_now_ms
    ids: Callable[[], str] = new_id
    counts: OutcomeCounts = field(default_factory=OutcomeCounts)

    async def register(self, body: Any, idempotency_key: str | None = None) -> User:
        """Validate, hash, store the user and its USER_CREATED event atomically, then publish.

        With an idempotency key, a retry of the same body returns the user the first
        request created, and creates nothing. Raises InvalidInput, EmailAlreadyRegistered,
        IdempotencyKeyReused or StorageUnavailable; on any of them nothing was written.
        """
        try:
            return await self._register(body, idempotency_key)
        except InvalidInput:
            self.counts.rejected["http", "invalid"] += 1
            raise
        except EmailAlreadyRegistered:
            self.counts.rejected["http", "duplicate_email"] += 1
            raise
        except IdempotencyKeyReused:
            self.counts.rejected["http", "idempotency_key_reused"] += 1
            raise

    async def _register(self, body: Any, idempotency_key: str | None) -> User:
        registration = validate_registration(body)
        if idempotency_key is None:
            return await self._create(registration, command_id=None, shed=True)
        # Errors are not stored: validation and "email taken" answer the same way again.
        fingerprint = body_fingerprint(body)
        assert registration.password is not None  # HTTP always sends the password
        replayed = await self._replay(idempotency_key, fingerprint, registration.password)
        if replayed is not None:
            return replayed
        try:
            return await self._create(
                registration,
                command_id=None,
                idempotency=(idempotency_key, fingerprint),
                shed=True,
            )
        except (EmailAlreadyRegistered, IdempotencyKeyTaken):
            # A concurrent request with the same key may have won the race.
            replayed = await self._replay(idempotency_key, fingerprint, registration.password)
            if replayed is not None:
                return replayed
            raise

    async def list_users(self, after: str | None, limit: int) -> tuple[list[User], str | None]:
        """A page of users by id, and the id to continue after (None on the last page)."""
        users = await self.queries.page(after, limit + 1)
        if len(users) > limit:
            return users[:limit], users[limit - 1].id
        return users, None

    async def handle_create_user(self, body: Mapping[str, Any]) -> CommandOutcome:
        """Run a CreateUser command: the same rules as `register`, but every outcome is an
        event (USER_CREATED or USER_CREATE_REJECTED), recorded with the command id in the
        same transaction, so a redelivered command changes nothing.

        Raises only StorageUnavailable (nothing written; retry) or unexpected errors.
        """
        command = parse_create_user(body)
        if command.command_id is not None:
            async with self.uow() as uow:
                previous = await uow.commands.outcome(command.command_id)
            if previous is not None:
                self.counts.commands["redelivered"] += 1
                return previous
        try:
            try:
                registration = validate_command_registration(
                    command.registration,
                    accept_plaintext=self.accept_plaintext_commands,
                    min_rounds=self.min_hash_rounds,
                )
            except InvalidInput as exc:
                raise InvalidInput({**command.problems, **exc.fields}) from None
            if command.problems:
                raise InvalidInput(command.problems)
            user = await self._create(
                registration, command_id=command.command_id, channel="command"
            )
        except InvalidInput as exc:
            # Echo the email only when it is one: a password typed into the wrong field
            # must not be published in the rejection.
            email = None if "email" in exc.fields else command.email_hint
            return await self._reject(command.command_id, "invalid", exc.fields, email)
        except EmailAlreadyRegistered as exc:
            return await self._reject(command.command_id, "duplicate_email", None, exc.email)
        except CommandAlreadyHandled:
            return await self._recorded_outcome(command.command_id)
        self.counts.commands["created"] += 1
        return CommandOutcome(command.command_id, "created", user_id=user.id)

    async def get(self, user_id: str) -> User | None:
        """The stored user with this id, or None."""
        return await self.queries.get(user_id)

    async def _replay(self, key: str, fingerprint: str, password: str) -> User | None:
        async with self.uow() as uow:
            found = await uow.idempotency.find(key, self.clock())
            user = await uow.users.get(found[1]) if found else None
        if found is None or user is None:
            return None
        if found[0] != fingerprint or not await self.passwords.verify(
            password, user.password_hash, shed=True
        ):
            raise IdempotencyKeyReused(key)
        return user

    async def _create(
        self,
        registration: Registration,
        *,
        command_id: str | None,
        idempotency: tuple[str, str] | None = None,
        shed: bool = False,
        channel: str = "http",
    ) -> User:
        # Cheap early answer for the common duplicate, before paying for bcrypt;
        # the unique index still decides races.
        if await self.queries.email_exists(registration.email):
            raise EmailAlreadyRegistered(registration.email)
        if registration.password_hash is not None:  # a command's producer hashed it already
            password_hash = registration.password_hash
        else:
            assert registration.password is not None
            # HTTP sheds load (a 503 the client retries); a command waits: Kafka keeps the rest.
            password_hash = await self.passwords.hash(registration.password, shed=shed)
        now = self.clock()
        user = User(
            id=self.ids(),
            nombre=registration.nombre,
            email=registration.email,
            created_at=now,
            password_hash=password_hash,
        )
        event_id = self.ids()
        event = user_created(
            user,
            topic=self.user_created_topic,
            event_id=event_id,
            at=now,
            payload=self.encoder.user_created(user, event_id=event_id, at=now),
            command_id=command_id,
        )
        try:
            async with self.uow() as uow:
                await uow.users.add(user)
                await uow.outbox.add(event)
                if command_id is not None:
                    outcome = CommandOutcome(command_id, "created", user_id=user.id)
                    await uow.commands.record(outcome)
                if idempotency is not None:
                    key, fingerprint = idempotency
                    await uow.idempotency.save(key, fingerprint, user.id, now, self.idempotency_ttl)
        except OutcomeUnknown:
            user = await self._stored_after_all(user)
        self.counts.created[channel] += 1
        log_context.add(user_id=user.id, event_id=event_id)
        return user

    async def _stored_after_all(self, user: User) -> User:
        """After a commit whose answer was lost, ask the database whether it happened: the
        user, its event and its records were committed together, or none of them."""
        try:
            stored = await self.queries.get(user.id)
        except StorageUnavailable:
            raise OutcomeUnknown(f"could not learn whether user {user.id} was stored") from None
        if stored is None:
            raise StorageUnavailable("the commit did not happen: nothing was written")
        return stored

    async def _reject(
        self, command_id: str | None, code: str, fields: dict[str, str] | None, email: str | None
    ) -> CommandOutcome:
        outcome = CommandOutcome(command_id, "rejected", code=code)
        named = bounded_problems(fields) if fields else None
        rejection = Rejection(self.ids(), self.clock(), command_id, code, named, email)
        event = user_create_rejected(
            topic=self.user_create_rejected_topic,
            event_id=rejection.event_id,
            at=rejection.at,
            payload=self.encoder.user_create_rejected(rejection),
            command_id=command_id,
        )
        try:
            async with self.uow() as uow:
                if command_id is not None:
                    await uow.commands.record(outcome)
                await uow.outbox.add(event)
        except CommandAlreadyHandled:
            return await self._recorded_outcome(command_id)
        self.counts.rejected["command", code] += 1
        self.counts.commands["rejected"] += 1
        return outcome

    async def _recorded_outcome(self, command_id: str | None) -> CommandOutcome:
        assert command_id is not None  # only a command with an id can be a duplicate
        self.counts.commands["redelivered"] += 1
        async with self.uow() as uow:
            previous = await uow.commands.outcome(command_id)
        assert previous is not None
        return previous
