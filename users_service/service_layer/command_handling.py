"""The CreateUser command use case (Kafka): the same rules as registration, but every
outcome is an event (USER_CREATED or USER_CREATE_REJECTED), recorded with the command id in
the same transaction, so a redelivered command changes nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from users_service.domain.commands import CommandOutcome, CreateUserCommand, bounded_problems
from users_service.domain.errors import CommandAlreadyHandled, EmailAlreadyRegistered, InvalidInput
from users_service.domain.model import Rejection, User, user_create_rejected
from users_service.domain.validation import Registration, validate_command_registration
from users_service.service_layer.counts import OutcomeCounts
from users_service.service_layer.new_user import NewUsers
from users_service.service_layer.ports import PasswordHasher, UnitOfWork


@dataclass(frozen=True)
class CreateUserHandler:
    """`handle`, wired once (`streamapp.wiring`)."""

    new_users: NewUsers
    passwords: PasswordHasher
    user_create_rejected_topic: str = "user.create.rejected"
    # Whether a plaintext password is accepted, and the least bcrypt cost of a
    # passwordHash a producer sends instead.
    accept_plaintext: bool = True
    min_hash_rounds: int = 4
    counts: OutcomeCounts = field(default_factory=OutcomeCounts)
    # (event id, email) -> whether the duplicate_email rejection went, its email's user
    # erased meanwhile (`DatabaseErasure.forget_rejection_unless_registered`).
    forget_rejection_unless_registered: Callable[[str, str], Awaitable[bool]] | None = None

    async def handle(self, command: CreateUserCommand) -> CommandOutcome:
        """Give a decoded CreateUser its one outcome (the first one, for a redelivery).

        Raises only StorageUnavailable (nothing written; retry) or unexpected errors.
        """
        if command.command_id is not None:
            async with self.new_users.uow() as uow:
                previous = await uow.commands.outcome(command.command_id)
            if previous is not None:
                self.counts.commands["redelivered"] += 1
                return previous
        try:
            try:
                registration = validate_command_registration(
                    command.registration,
                    accept_plaintext=self.accept_plaintext,
                    min_rounds=self.min_hash_rounds,
                )
            except InvalidInput as exc:
                raise InvalidInput({**command.problems, **exc.fields}) from None
            if command.problems:
                raise InvalidInput(command.problems)
            user = await self._create(registration, command.command_id)
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

    async def _create(self, registration: Registration, command_id: str | None) -> User:
        await self.new_users.ensure_email_free(registration.email)
        if registration.password_hash is not None:  # the producer hashed it already
            password_hash = registration.password_hash
        else:
            assert registration.password is not None
            # A command waits for bcrypt rather than shed: Kafka keeps the rest.
            password_hash = await self.passwords.hash(registration.password, shed=False)

        async def record_outcome(uow: UnitOfWork, user: User) -> None:
            if command_id is not None:
                await uow.commands.record(CommandOutcome(command_id, "created", user_id=user.id))

        user = await self.new_users.store(
            registration, password_hash, command_id=command_id, also=record_outcome
        )
        self.counts.created["command"] += 1
        return user

    async def _reject(
        self, command_id: str | None, code: str, fields: dict[str, str] | None, email: str | None
    ) -> CommandOutcome:
        outcome = CommandOutcome(command_id, "rejected", code=code)
        named = bounded_problems(fields) if fields else None
        new_users = self.new_users
        rejection = Rejection(new_users.ids(), new_users.clock(), command_id, code, named, email)
        event = user_create_rejected(
            topic=self.user_create_rejected_topic,
            event_id=rejection.event_id,
            at=rejection.at,
            payload=new_users.encoder.user_create_rejected(rejection),
            command_id=command_id,
        )
        try:
            async with new_users.uow() as uow:
                if command_id is not None:
                    await uow.commands.record(outcome)
                await uow.outbox.add(event)
        except CommandAlreadyHandled:
            return await self._recorded_outcome(command_id)
        # The rejection echoes an email taken when it was checked: if its user was erased
        # since, the rejection must not outlive the erasure (docs/erasure.md).
        forget = self.forget_rejection_unless_registered
        if code == "duplicate_email" and email is not None and forget is not None:
            if await forget(rejection.event_id, email):
                uow.collect_claimed()  # nothing of it to publish
            else:
                new_users.deliver(uow)
        else:
            new_users.deliver(uow)
        self.counts.rejected["command", code] += 1
        self.counts.commands["rejected"] += 1
        return outcome

    async def _recorded_outcome(self, command_id: str | None) -> CommandOutcome:
        assert command_id is not None  # only a command with an id can be a duplicate
        self.counts.commands["redelivered"] += 1
        async with self.new_users.uow() as uow:
            previous = await uow.commands.outcome(command_id)
        assert previous is not None
        return previous
