"""Erasure's use cases: forget a user (HTTP or the `user.erase` command), list erasures."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from users_service.domain.clock import utc_now_ms
from users_service.domain.erasure import (
    EraseOutcome,
    Erasure,
    parse_erase_user,
    user_deleted,
)
from users_service.domain.errors import CommandAlreadyHandled
from users_service.domain.model import OutboxMessage, new_id
from users_service.service_layer import log_context


class ErasureStore(Protocol):
    async def erase(
        self, user_id: str, deleted: OutboxMessage, *, command_id: str | None = None
    ) -> bool:
        """In one transaction, forget the user everywhere and queue `deleted`; False when
        no such user is stored (an erase command's `not_found` is recorded then)."""

    async def command_outcome(self, command_id: str) -> EraseOutcome | None:
        """The outcome recorded for a command id, or None."""

    async def erased_since(self, since: datetime, limit: int = 10_000) -> list[Erasure]:
        """Erasures at or after `since`, oldest first."""


class DeletionEncoder(Protocol):
    def user_deleted(self, user_id: str, *, event_id: str, at: datetime) -> bytes:
        """The USER_DELETED value for an erased user."""


@dataclass(frozen=True)
class ErasureService:
    """Collaborators of the erasure use cases, wired once (`streamapp.wiring`)."""

    store: ErasureStore
    encoder: DeletionEncoder
    user_deleted_topic: str = "user.deleted"
    clock: Callable[[], datetime] = utc_now_ms
    ids: Callable[[], str] = new_id

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

    async def erase(self, user_id: str) -> bool:
        """Erase a user: True when it was stored and is now forgotten, False when no such
        user is stored (never was, or already erased). Raises StorageUnavailable."""
        erased = await self.store.erase(user_id, self._event(user_id, None))
        if erased:
            log_context.add(user_id=user_id)
        return erased

    async def handle_erase_user(self, body: Mapping[str, Any]) -> EraseOutcome:
        """Run an EraseUser command once per command id: a redelivery changes nothing and
        answers as the first time. A command without a valid id or user id is rejected
        (nothing written). Raises only StorageUnavailable (retry) or unexpected errors."""
        command = parse_erase_user(body)
        if command.problems or command.command_id is None or command.user_id is None:
            return EraseOutcome(command.command_id, "rejected", problems=command.problems)
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
        return EraseOutcome(
            command.command_id, "erased" if erased else "not_found", user_id=command.user_id
        )

    async def erasures(self, since: datetime) -> list[Erasure]:
        """The record of erasures since `since`: ids and times only."""
        return await self.store.erased_since(since)
