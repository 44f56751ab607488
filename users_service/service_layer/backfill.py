"""Backfill: a USER_CREATED for every stored user whose event is no longer in the outbox."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Protocol

from users_service.domain.clock import utc_now_ms
from users_service.domain.model import User, new_id, user_created
from users_service.service_layer.ports import EventEncoder, UnitOfWorkFactory

BACKFILL_HEADER = "backfill"


class UsersWithoutEvent(Protocol):
    async def users_without_event(self, limit: int) -> list[User]:
        """Up to `limit` users, oldest first, with no USER_CREATED row in the outbox."""

    async def count_users_without_event(self) -> int:
        """How many users have no USER_CREATED row in the outbox."""


async def backfill(
    source: UsersWithoutEvent,
    uow: UnitOfWorkFactory,
    encoder: EventEncoder,
    *,
    topic: str,
    batch: int = 500,
    dry_run: bool = False,
    clock: Callable[[], datetime] = utc_now_ms,
    ids: Callable[[], str] = new_id,
    progress: Callable[[int], None] = lambda total: None,
) -> int:
    """Write the missing events to the outbox, a batch per transaction, each with a fresh
    event id and a `backfill` header; the relay publishes them. Resumable: a user done has
    its row, so a second run (after a crash, say) starts where the first stopped. Return
    how many were written (with `dry_run`, how many would be, writing nothing)."""
    if dry_run:
        return await source.count_users_without_event()
    total = 0
    while True:
        users = await source.users_without_event(batch)
        if not users:
            return total
        async with uow() as work:
            for user in users:
                event_id, at = ids(), clock()
                message = user_created(
                    user,
                    topic=topic,
                    event_id=event_id,
                    at=at,
                    payload=encoder.user_created(user, event_id=event_id, at=at),
                )
                headers = {**message.headers, BACKFILL_HEADER: "true"}
                await work.outbox.add(replace(message, headers=headers))
        total += len(users)
        progress(total)
