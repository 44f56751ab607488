"""What the use cases need from the outside world, as protocols."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Protocol

from users_service.domain.access import Principal
from users_service.domain.commands import CommandOutcome
from users_service.domain.erasure import EraseOutcome, Erasure
from users_service.domain.model import OutboxMessage, Rejection, User
from users_service.domain.verification import VerificationOutcome


class UserQueries(Protocol):
    """Reads; outside a unit of work each is one round trip over committed data."""

    async def email_exists(self, email: str) -> bool:
        """True when a user with this (normalized) email is stored."""

    async def get(self, user_id: str) -> User | None:
        """The user with this id, or None."""

    async def page(self, after: str | None, limit: int) -> list[User]:
        """Up to `limit` users with ids greater than `after`, by id."""


class UserRepository(UserQueries, Protocol):
    """The users inside a unit of work: the reads, and adding one."""

    async def add(self, user: User) -> None:
        """Insert; raise EmailAlreadyRegistered when the email is taken."""


class Outbox(Protocol):
    async def add(self, message: OutboxMessage) -> None:
        """Store a message to publish once the unit of work commits."""


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
    """One database transaction: commits on a clean exit, rolls back on an exception.

    After the commit, `collect_claimed` gives the outbox messages it claimed for the fast
    path; the use case hands them over (`new_user.NewUsers.deliver`)."""

    @property
    def users(self) -> UserRepository: ...

    @property
    def outbox(self) -> Outbox: ...

    @property
    def commands(self) -> CommandLog: ...

    @property
    def idempotency(self) -> IdempotencyKeys: ...

    def collect_claimed(self) -> list[OutboxMessage]:
        """The committed messages claimed for the fast path (each given once)."""

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
    async def hash(self, password: str, *, shed: bool = False) -> str:
        """Hash a password off the event loop; with `shed`, raise Overloaded rather than
        wait when too much hashing is queued already."""

    async def verify(self, password: str, password_hash: str, *, shed: bool = False) -> bool:
        """Check a password against a stored hash, off the event loop (bounded likewise)."""

    @property
    def saturated(self) -> bool:
        """True when a call with `shed` would raise Overloaded now."""


class TokenVerifier(Protocol):
    async def principal(self, token: str) -> Principal:
        """The caller a valid bearer token names; raise NotAuthenticated otherwise."""

    @property
    def configured(self) -> bool:
        """True when tokens can be judged at all (a secret or a JWKS is set)."""


class EventEncoder(Protocol):
    """The wire values of the events, encoded by their typed Records (`models/`)."""

    def user_created(self, user: User, *, event_id: str, at: datetime) -> bytes:
        """The USER_CREATED value for `user`."""

    def user_create_rejected(self, rejection: Rejection) -> bytes:
        """The USER_CREATE_REJECTED value for a refused command."""


class ErasureEncoder(Protocol):
    def user_deleted(self, user_id: str, *, event_id: str, at: datetime) -> bytes:
        """The USER_DELETED value for an erased user: its id, nothing personal."""


class ErasureStore(Protocol):
    """Erasure on the database: all of one user's data in one transaction."""

    async def erase(
        self, user_id: str, deleted: OutboxMessage, *, command_id: str | None = None
    ) -> bool:
        """In one transaction, forget the user everywhere and queue `deleted` (with an erase
        command's outcome); False when no such user is stored (an erase command's
        `not_found` is recorded then). Raises CommandAlreadyHandled when `command_id` was
        recorded meanwhile."""

    async def command_outcome(self, command_id: str) -> EraseOutcome | None:
        """The outcome recorded for a command id, or None."""

    async def erased_among(self, user_ids: Sequence[str]) -> set[str]:
        """The ids among `user_ids` that were erased."""

    async def erased_since(self, since: datetime, limit: int = 10_000) -> list[Erasure]:
        """Erasures at or after `since`, oldest first."""


@dataclass(frozen=True)
class Reconciliation:
    """Stored users against verified events, across all workers."""

    unverified_users: int
    oldest_unverified_created_at: datetime | None
    events_without_user: int


class VerificationStore(Protocol):
    async def get_users(self, user_ids: Sequence[str]) -> dict[str, User]:
        """The stored users among these ids, by id."""

    async def record_many(self, outcomes: Sequence[VerificationOutcome]) -> set[str]:
        """Remember outcomes; return the event ids recorded now (the others were already)."""

    async def reconcile(self) -> Reconciliation:
        """Users whose event is not verified yet, and events whose user does not exist."""


class Tracing(Protocol):
    """Spans around the service layer's own work, and the current trace context (the
    adapter is `adapters.trace_context`; `NO_TRACING` while tracing is off)."""

    def current(self) -> tuple[str | None, str | None]:
        """The current W3C (traceparent, tracestate), or (None, None)."""

    def span(
        self,
        name: str,
        *,
        attributes: Mapping[str, str | int] | None = None,
        links: Sequence[str | None] = (),
    ) -> AbstractContextManager[None]:
        """A span, current inside the block, linking to the spans those traceparents name."""


class _NoTracing:
    def current(self) -> tuple[str | None, str | None]:
        return None, None

    def span(
        self,
        name: str,
        *,
        attributes: Mapping[str, str | int] | None = None,
        links: Sequence[str | None] = (),
    ) -> AbstractContextManager[None]:
        return nullcontext()


NO_TRACING: Tracing = _NoTracing()
