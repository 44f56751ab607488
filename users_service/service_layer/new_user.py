"""The step both ways of creating a user share: store the user with its USER_CREATED event
in one transaction, then hand the event to the fast path."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from users_service.domain.clock import utc_now_ms
from users_service.domain.errors import EmailAlreadyRegistered, OutcomeUnknown, StorageUnavailable
from users_service.domain.model import User, new_id, user_created
from users_service.domain.validation import Registration
from users_service.service_layer import log_context
from users_service.service_layer.outbox.ports import Dispatcher
from users_service.service_layer.ports import (
    EventEncoder,
    UnitOfWork,
    UnitOfWorkFactory,
    UserQueries,
)

# What a use case writes beside the user, in the same transaction (its command outcome,
# its idempotency key).
AlsoRecord = Callable[[UnitOfWork, User], Awaitable[None]]


@dataclass(frozen=True)
class NewUsers:
    """Collaborators of the creating use cases, and their shared step (`store`)."""

    uow: UnitOfWorkFactory
    queries: UserQueries
    encoder: EventEncoder
    user_created_topic: str
    # Publishes what a committed unit of work claimed; None: the relay publishes all.
    fast_path: Dispatcher | None = None
    clock: Callable[[], datetime] = utc_now_ms
    ids: Callable[[], str] = new_id

    async def ensure_email_free(self, email: str) -> None:
        """Cheap early answer for the common duplicate, before paying for bcrypt; the
        unique index still decides races."""
        if await self.queries.email_exists(email):
            raise EmailAlreadyRegistered(email)

    async def store(
        self,
        registration: Registration,
        password_hash: str,
        *,
        command_id: str | None,
        also: AlsoRecord | None = None,
    ) -> User:
        """Store the user, its USER_CREATED event and `also` together, then deliver the
        event. Raises EmailAlreadyRegistered (or what `also` raises); nothing written then."""
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
                if also is not None:
                    await also(uow, user)
            self.deliver(uow)
        except OutcomeUnknown:
            user = await self._stored_after_all(user)
        log_context.add(user_id=user.id, event_id=event_id)
        return user

    def deliver(self, committed: UnitOfWork) -> None:
        """After the commit: the messages it claimed go to the fast path at once (the
        relay publishes the others, and these too if the fast path fails)."""
        claimed = committed.collect_claimed()
        if self.fast_path is not None and claimed:
            self.fast_path.dispatch(claimed)

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
