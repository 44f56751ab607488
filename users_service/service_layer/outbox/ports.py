"""What the relay needs: a store of pending messages and a way to publish them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from users_service.domain.model import OutboxMessage
from users_service.service_layer.outbox.health import PublishHealth


@dataclass(frozen=True)
class PendingMessage:
    """An outbox row as read back for publishing; `payload` is the exact value to send."""

    event_id: str
    event_type: str
    topic: str
    key: str
    payload: bytes
    headers: dict[str, str] = field(default_factory=dict)
    created_at: datetime | None = None

    @classmethod
    def of(cls, message: OutboxMessage) -> PendingMessage:
        """A message just stored, as the relay would read it back."""
        return cls(
            event_id=message.event_id,
            event_type=message.event_type,
            topic=message.topic,
            key=message.key,
            payload=message.payload,
            headers=dict(message.headers),
            created_at=message.created_at,
        )


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


class Dispatcher(Protocol):
    """Hands messages to the producer right after the transaction that stored them commits."""

    @property
    def fast_path_owner(self) -> str | None:
        """Who claims new messages for immediate publishing, or None to leave them to the relay."""

    def dispatch(self, messages: Sequence[OutboxMessage]) -> None:
        """Start publishing messages that were just committed; never blocks, never raises."""


class Publisher(Protocol):
    async def __call__(self, messages: Sequence[PendingMessage]) -> list[BaseException | None]:
        """Send in order and wait for Kafka's acknowledgements: None for each acknowledged
        message, the exception for each that failed."""


@dataclass(frozen=True)
class Sent:
    """What a Publisher call came to: the acknowledged event ids, and the failed ones with
    the first error (they share a cause: the broker)."""

    acked: list[str]
    failed: list[str]
    error: BaseException | None

    @classmethod
    def of(
        cls, messages: Sequence[PendingMessage], results: Sequence[BaseException | None]
    ) -> Sent:
        outcomes = list(zip(messages, results, strict=True))
        errors = [r for _, r in outcomes if r is not None]
        return cls(
            acked=[m.event_id for m, r in outcomes if r is None],
            failed=[m.event_id for m, r in outcomes if r is not None],
            error=errors[0] if errors else None,
        )

    async def record_failures(self, store: OutboxStore, health: PublishHealth) -> None:
        """Count the failures and release them for the relay's next try."""
        if self.failed and self.error is not None:
            health.failed(len(self.failed), self.error)
            await store.mark_failed(self.failed, str(self.error))
