"""In-memory fakes of the service layer's ports, for unit tests of logic."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from types import TracebackType

from models.events import RecordEncoder
from users_service.domain.clock import utc_now_ms
from users_service.domain.commands import CommandOutcome
from users_service.domain.erasure import EraseOutcome, EraseResult, Erasure
from users_service.domain.errors import (
    CommandAlreadyHandled,
    EmailAlreadyRegistered,
    IdempotencyKeyTaken,
)
from users_service.domain.model import OutboxMessage, User
from users_service.domain.verification import VerificationOutcome
from users_service.service_layer.command_handling import CreateUserHandler
from users_service.service_layer.counts import OutcomeCounts
from users_service.service_layer.erasure import UserErasure
from users_service.service_layer.new_user import NewUsers
from users_service.service_layer.ports import Reconciliation
from users_service.service_layer.queries import UserDirectory
from users_service.service_layer.registration import UserRegistration
from users_service.service_layer.users import UsersService


@dataclass
class FakeState:
    users: dict[str, User] = field(default_factory=dict)
    outbox: list[OutboxMessage] = field(default_factory=list)
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
    def __init__(self, staged: list[OutboxMessage], fail: bool) -> None:
        self._staged = staged
        self._fail = fail

    async def add(self, message: OutboxMessage) -> None:
        if self._fail:
            raise RuntimeError("outbox insert failed")
        self._staged.append(message)


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
    """Stages writes and applies them only on a clean exit, like a transaction; with a
    dispatcher whose fast path is open, every committed message counts as claimed for it."""

    def __init__(
        self,
        state: FakeState,
        dispatcher: FakeDispatcher | None = None,
        fail_outbox: bool = False,
    ) -> None:
        self._state = state
        self._dispatcher = dispatcher
        self._users: dict[str, User] = {}
        self._outbox: list[OutboxMessage] = []
        self._commands: dict[str, CommandOutcome] = {}
        self.users = FakeUsers(self._users, state)
        self.outbox = FakeOutbox(self._outbox, fail_outbox)
        self.commands = FakeCommandLog(self._commands, state)
        self._idempotency: dict[str, tuple[str, str, datetime]] = {}
        self.idempotency = FakeIdempotencyKeys(self._idempotency, state)
        self._claimed: list[OutboxMessage] = []

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
            if self._dispatcher is not None and self._dispatcher.fast_path_owner is not None:
                self._claimed = list(self._outbox)

    def collect_claimed(self) -> list[OutboxMessage]:
        claimed, self._claimed = self._claimed, []
        return claimed


class FakeHasher:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.saturated = False

    async def hash(self, password: str, *, shed: bool = False) -> str:
        self.calls.append(password)
        return "$2b$04$" + password.encode().hex()[:53].ljust(53, "x")

    async def verify(self, password: str, password_hash: str, *, shed: bool = False) -> bool:
        return await self.hash(password) == password_hash


class FakeDispatcher:
    """Records what a unit of work handed over after its commit; `owner` is the fast path's
    (None: closed, as while Kafka fails)."""

    def __init__(self, owner: str | None = "worker-1") -> None:
        self.fast_path_owner = owner
        self.dispatched: list[OutboxMessage] = []

    def dispatch(self, messages: Sequence[OutboxMessage]) -> None:
        self.dispatched.extend(messages)


class FakeVerificationStore:
    def __init__(self, users: list[User]) -> None:
        self.users = {u.id: u for u in users}
        self.recorded: dict[str, str] = {}
        self.outcomes: dict[str, VerificationOutcome] = {}

    async def get_users(self, user_ids: Sequence[str]) -> dict[str, User]:
        return {i: self.users[i] for i in user_ids if i in self.users}

    async def record_many(self, outcomes: Sequence[VerificationOutcome]) -> set[str]:
        fresh = {o.event_id for o in outcomes if o.event_id not in self.recorded}
        self.recorded.update({o.event_id: o.outcome for o in outcomes if o.event_id in fresh})
        self.outcomes.update({o.event_id: o for o in outcomes if o.event_id in fresh})
        return fresh

    async def reconcile(self) -> Reconciliation:
        verified = {o.aggregate_id for o in self.outcomes.values() if o.reason is None}
        unverified = [u for u in self.users.values() if u.id not in verified]
        return Reconciliation(
            unverified_users=len(unverified),
            oldest_unverified_created_at=min((u.created_at for u in unverified), default=None),
            events_without_user=sum(o.reason == "user_not_stored" for o in self.outcomes.values()),
        )


class FakeErasureStore:
    """Erasure over the fake state: the user goes, USER_DELETED is queued, and an erase
    command's outcome is recorded."""

    def __init__(self, state: FakeState) -> None:
        self._state = state
        self.erased: dict[str, datetime] = {}
        self.erase_outcomes: dict[str, EraseOutcome] = {}

    async def erase(
        self, user_id: str, deleted: OutboxMessage, *, command_id: str | None = None
    ) -> bool:
        erased = self._state.users.pop(user_id, None) is not None
        if erased:
            self.erased[user_id] = deleted.created_at
            self._state.outbox.append(deleted)
        if command_id is not None:
            result: EraseResult = "erased" if erased else "not_found"
            outcome = EraseOutcome(command_id, result, user_id=user_id, duplicate=True)
            self.erase_outcomes[command_id] = outcome
        return erased

    async def command_outcome(self, command_id: str) -> EraseOutcome | None:
        return self.erase_outcomes.get(command_id)

    async def erased_among(self, user_ids: Sequence[str]) -> set[str]:
        return {i for i in user_ids if i in self.erased}

    async def erased_since(self, since: datetime, limit: int = 10_000) -> list[Erasure]:
        return [Erasure(i, at) for i, at in sorted(self.erased.items()) if at >= since][:limit]


def fake_users_service(
    state: FakeState,
    dispatcher: FakeDispatcher | None = None,
    *,
    passwords: FakeHasher | None = None,
    fail_outbox: bool = False,
    idempotency_ttl: float = 24 * 3600.0,
    clock: Callable[[], datetime] = utc_now_ms,
    user_create_rejected_topic: str = "user.create.rejected",
) -> UsersService:
    """The use cases over these fakes, wired as `streamapp.wiring` wires the real ones."""
    counts = OutcomeCounts()
    hasher = passwords or FakeHasher()
    new_users = NewUsers(
        uow=lambda: FakeUnitOfWork(state, dispatcher, fail_outbox=fail_outbox),
        queries=FakeUsers({}, state),
        encoder=RecordEncoder(),
        user_created_topic="user.created",
        fast_path=dispatcher,
        clock=clock,
    )
    return UsersService(
        registration=UserRegistration(
            new_users, hasher, idempotency_ttl=idempotency_ttl, counts=counts
        ),
        commands=CreateUserHandler(
            new_users,
            hasher,
            user_create_rejected_topic=user_create_rejected_topic,
            counts=counts,
        ),
        directory=UserDirectory(new_users.queries),
        erasure=UserErasure(FakeErasureStore(state), RecordEncoder(), clock=clock),
        counts=counts,
    )
