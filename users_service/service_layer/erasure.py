"""The erasure use case (GDPR Art. 17): forget a user, asked by HTTP, by an EraseUser
command or by an operator; and the record of erasures (ids and times only).

One transaction forgets the user everywhere the database holds them and queues
USER_DELETED (docs/erasure.md). USER_DELETED goes through the relay, not the fast path:
nothing waits for it, and it is published in the order of the outbox like every event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from users_service.domain.clock import utc_now_ms
from users_service.domain.erasure import EraseOutcome, EraseUserCommand, Erasure, user_deleted
from users_service.domain.errors import CommandAlreadyHandled
from users_service.domain.model import OutboxMessage, new_id
from users_service.service_layer import log_context
from users_service.service_layer.ports import ErasureEncoder, ErasureStore


@dataclass(frozen=True)
class UserErasure:
    """`erase`, `handle` and `erasures`, wired once (`streamapp.wiring`)."""

    store: ErasureStore
    encoder: ErasureEncoder
    user_deleted_topic: str = "user.deleted"
    clock: Callable[[], datetime] = utc_now_ms
    ids: Callable[[], str] = new_id

    async def erase(self, user_id: str) -> bool:
        """Erase a user: True when it was stored and is now forgotten, False when no such
        user is stored (never was, or erased already). Raises StorageUnavailable."""
        erased = await self.store.erase(user_id, self._event(user_id, None))
        if erased:
            log_context.add(user_id=user_id)
        return erased

    async def handle(self, command: EraseUserCommand) -> EraseOutcome:
        """Run an EraseUser command once per command id: a redelivery changes nothing and
        answers as the first time. Raises only StorageUnavailable (retry) or unexpected
        errors."""
        previous = await self.store.command_outcome(command.command_id)
        if previous is not None:
            return previous
        try:
            erased = await self.store.erase(
                command.user_id,
                self._event(command.user_id, command.command_id),
                command_id=command.command_id,
            )
        except CommandAlreadyHandled:
            # The same command, redelivered and handled beside this one: its outcome stands.
            found = await self.store.command_outcome(command.command_id)
            assert found is not None
            return found
        if erased:
            log_context.add(user_id=command.user_id)
        return EraseOutcome(
            command.command_id, "erased" if erased else "not_found", user_id=command.user_id
        )

    async def erasures(self, since: datetime) -> list[Erasure]:
        """The record of erasures since `since`, oldest first: ids and times only."""
        return await self.store.erased_since(since)

    def _event(self, user_id: str, command_id: str | None) -> OutboxMessage:
        event_id, at = self.ids(), self.clock()
        return user_deleted(
            user_id,
            topic=self.user_deleted_topic,
            event_id=event_id,
            at=at,
            payload=self.encoder.user_deleted(user_id, event_id=event_id, at=at),
            command_id=command_id,
        )
