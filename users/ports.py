"""What the service layer needs from the outside world, as protocols."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from types import TracebackType
from typing import Protocol

from users.commands import CommandOutcome
from users.model import OutboxMessage, User


class UserRepository(Protocol):
    async def email_exists(self, email: str) -> bool:
        """True when a user with this (normalized) email is stored."""

    async def add(self, user: User) -> None:
        """Insert; raise EmailAlreadyRegistered when the email is taken."""

    async def get(self, user_id: str) -> User | None:
        """The user with this id, or None."""

    async def page(self, after: str | None, limit: int) -> list[User]:
        """Up to `limit` users with ids greater than `after`, by id."""


class UserQueries(Protocol):
    """Reads outside any transaction (one round trip each): committed data only."""

    async def email_exists(self, email: str) -> bool:
        """True when a user with this (normalized) email is stored."""

    async def get(self, user_id: str) -> User | None:
        """The user with this id, or None."""

    async def page(self, after: str | None, limit: int) -> list[User]:
        """Up to `limit` users with ids greater than `after`, by id."""


class Outbox(Protocol):
    async def add(self, message: OutboxMessage, *, claimed_by: str | None) -> bool:
        """Store a message to publish; True when it was reserved for `claimed_by`'s fast path
        (False when no owner was given, or an older message of its key is still pending)."""


class CommandLog(Protocol):
    async def outcome(self, command_id: str) -> CommandOutcome | None:
        """The recorded outcome of a command already handled, or None."""

    async def record(self, outcome: CommandOutcome) -> None:
        """Remember a command's outcome; raise CommandAlreadyHandled if one is recorded."""


class IdempotencyKeys(Protocol):
    async def find(self, key: str, now: datetime) -> tuple[str, str] | None:
        """(fingerprint, user id) stored for an unexpired key, or None."""

    async def save(
        self, key: str, fingerprint: str, user_id: str, now: datetime, ttl: float
    ) -> None:
        """Store a key (replacing an expired one); raise IdempotencyKeyTaken if it is live."""


class UnitOfWork(Protocol):
    """One database transaction: commits on a clean exit, rolls back on an exception."""

    @property
    def users(self) -> UserRepository: ...

    @property
    def outbox(self) -> Outbox: ...

    @property
    def commands(self) -> CommandLog: ...

    @property
    def idempotency(self) -> IdempotencyKeys: ...

    async def __aenter__(self) -> UnitOfWork: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> UnitOfWork: ...


class PasswordHasher(Protocol):
    async def hash(self, password: str) -> str:
        """Hash a password off the event loop."""

    async def verify(self, password: str, password_hash: str) -> bool:
        """Check a password against a stored hash, off the event loop."""


class EventDispatcher(Protocol):
    """Hands committed outbox messages to the producer (the fast path)."""

    @property
    def fast_path_owner(self) -> str | None:
        """Who claims new messages for immediate publishing, or None to leave them to the relay."""

    def dispatch(self, messages: Sequence[OutboxMessage]) -> None:
        """Start publishing messages that were just committed; never blocks, never raises."""
