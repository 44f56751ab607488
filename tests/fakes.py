"""In-memory fakes of the service layer's ports, for unit tests of logic."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from types import TracebackType

from users.commands import CommandOutcome
from users.errors import CommandAlreadyHandled, EmailAlreadyRegistered, IdempotencyKeyTaken
from users.model import OutboxMessage, User


@dataclass
class FakeState:
    users: dict[str, User] = field(default_factory=dict)
    outbox: list[tuple[OutboxMessage, str | None]] = field(default_factory=list)
    commands: dict[str, CommandOutcome] = field(default_factory=dict)
    idempotency: dict[str, tuple[str, str, datetime]] = field(default_factory=dict)
    commits: int = 0


class FakeUsers:
    def __init__(self, staged: dict[str, User], state: FakeState) -> None:
        self._staged = staged
        self._state = state

    async def email_exists(self, email: str) -> bool:
        return any(u.email == email for u in [*self._state.users.values(), *self._staged.values()])

    async def add(self, user: User) -> None:
        if await self.email_exists(user.email):
            raise EmailAlreadyRegistered(user.email)
        self._staged[user.id] = user

    async def get(self, user_id: str) -> User | None:
        return self._state.users.get(user_id)

    async def page(self, after: str | None, limit: int) -> list[User]:
        ids = sorted(i for i in self._state.users if after is None or i > after)
        return [self._state.users[i] for i in ids[:limit]]


class FakeOutbox:
    def __init__(self, staged: list[tuple[OutboxMessage, str | None]], fail: bool) -> None:
        self._staged = staged
        self._fail = fail

    async def add(self, message: OutboxMessage, *, claimed_by: str | None) -> bool:
        if self._fail:
            raise RuntimeError("outbox insert failed")
        self._staged.append((message, claimed_by))
        return claimed_by is not None


class FakeCommandLog:
    def __init__(self, staged: dict[str, CommandOutcome], state: FakeState) -> None:
        self._staged = staged
        self._state = state

    async def outcome(self, command_id: str) -> CommandOutcome | None:
        found = self._state.commands.get(command_id)
        return replace(found, duplicate=True) if found else None

    async def record(self, outcome: CommandOutcome) -> None:
        assert outcome.command_id is not None
        if outcome.command_id in self._state.commands or outcome.command_id in self._staged:
            raise CommandAlreadyHandled(outcome.command_id)
        self._staged[outcome.command_id] = outcome


class FakeIdempotencyKeys:
    def __init__(self, staged: dict[str, tuple[str, str, datetime]], state: FakeState) -> None:
        self._staged = staged
        self._state = state

    async def find(self, key: str, now: datetime) -> tuple[str, str] | None:
        found = self._state.idempotency.get(key)
        return (found[0], found[1]) if found and found[2] > now else None

    async def save(
        self, key: str, fingerprint: str, user_id: str, now: datetime, ttl: float
    ) -> None:
        if await self.find(key, now) is not None or key in self._staged:
            raise IdempotencyKeyTaken(key)
        self._staged[key] = (fingerprint, user_id, now + timedelta(seconds=ttl))


class FakeUnitOfWork:
    """Stages writes and applies them only on a clean exit, like a transaction."""

    def __init__(self, state: FakeState, fail_outbox: bool = False) -> None:
        self._state = state
        self._users: dict[str, User] = {}
        self._outbox: list[tuple[OutboxMessage, str | None]] = []
        self._commands: dict[str, CommandOutcome] = {}
        self.users = FakeUsers(self._users, state)
        self.outbox = FakeOutbox(self._outbox, fail_outbox)
        self.commands = FakeCommandLog(self._commands, state)
        self._idempotency: dict[str, tuple[str, str, datetime]] = {}
        self.idempotency = FakeIdempotencyKeys(self._idempotency, state)

    async def __aenter__(self) -> FakeUnitOfWork:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self._state.users.update(self._users)
            self._state.outbox.extend(self._outbox)
            self._state.commands.update(self._commands)
            self._state.idempotency.update(self._idempotency)
            self._state.commits += 1


class FakeHasher:
    def __init__(self) -> None:
        self.calls: list[str] = []

    async def hash(self, password: str) -> str:
        self.calls.append(password)
        return "$2b$04$" + password.encode().hex()[:53].ljust(53, "x")

    async def verify(self, password: str, password_hash: str) -> bool:
        return await self.hash(password) == password_hash


class FakeDispatcher:
    def __init__(self, owner: str | None = "worker-1") -> None:
        self.fast_path_owner = owner
        self.dispatched: list[OutboxMessage] = []

    def dispatch(self, messages: Sequence[OutboxMessage]) -> None:
        self.dispatched.extend(messages)
