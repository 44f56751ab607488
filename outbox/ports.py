"""What the relay needs: a store of pending messages and a way to publish them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class PendingMessage:
    """An outbox row as read back for publishing; `payload` is the exact JSON to send."""

    event_id: str
    event_type: str
    topic: str
    key: str
    payload: str
    headers: dict[str, str] = field(default_factory=dict)
    created_at: datetime | None = None


@dataclass(frozen=True)
class Backlog:
    """The outbox's state as stored."""

    pending: int
    oldest_pending_created_at: datetime | None


class OutboxStore(Protocol):
    async def acquire_lease(self, holder: str, ttl: float) -> bool:
        """Take or renew the relay lease; True when `holder` is the relay now."""

    async def release_lease(self, holder: str) -> None:
        """Give the lease up so another worker can take over at once."""

    async def pending(self, limit: int) -> list[PendingMessage]:
        """Unpublished, unclaimed messages, oldest first, never one that would overtake an
        older message of the same key."""

    async def mark_published(self, event_ids: Sequence[str]) -> None:
        """Record that Kafka acknowledged these messages."""

    async def mark_failed(self, event_ids: Sequence[str], error: str) -> None:
        """Count a failed attempt and release any fast-path claim so the relay retries."""

    async def purge_published(self, older_than: datetime) -> int:
        """Delete messages published before `older_than`; return how many."""

    async def backlog(self) -> Backlog:
        """How many messages wait, and since when."""


class Publisher(Protocol):
    async def __call__(self, messages: Sequence[PendingMessage]) -> list[BaseException | None]:
        """Send in order and wait for Kafka's acknowledgements: None for each acknowledged
        message, the exception for each that failed."""
