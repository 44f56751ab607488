"""What delivery needs: a store of pending messages, a way to publish them, and the
fast-path handoff after a commit."""

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
    # Its place in the outbox (the row id): where the next batch of a chain starts.
    position: int | None = None
    # The trace context it was created in (`OutboxMessage.traceparent`), or none.
    traceparent: str | None = None
    tracestate: str | None = None

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
            traceparent=message.traceparent,
            tracestate=message.tracestate,
        )


@dataclass(frozen=True)
class Backlog:
    """The outbox's state as stored: what waits (and since when), and what is parked."""

    pending: int
    oldest_pending_created_at: datetime | None
    parked: int = 0


@dataclass(frozen=True)
class Fence:
    """The relay lease as one relay held it: its marks count only while it still does."""

    holder: str
    generation: int


@dataclass(frozen=True)
class SendFailure:
    """Why one message was not acknowledged.

    `outage`: Kafka could not be reached or timed out; not the message's fault, so it does
    not count towards parking. `held_back`: not sent at all, because an older message of
    its key failed in the same batch (sending it would break the key's order)."""

    error: str
    outage: bool = False
    held_back: bool = False


class OtherShardSetting(Exception):
    """Relays with another OUTBOX_SHARDS are live: this relay must take nothing, since two
    settings split one key between two relays (published twice, and out of order)."""

    def __init__(self, ours: str, in_force: str) -> None:
        super().__init__(f"{in_force} is in force; this relay has {ours}")
        self.ours = ours
        self.in_force = in_force


class OutboxStore(Protocol):
    async def acquire_lease(self, holder: str, ttl: float) -> int | None:
        """Take or renew the relay lease for `ttl` seconds of the database's clock; the
        lease's generation while `holder` holds it, None when another worker does.
        OtherShardSetting when relays with another OUTBOX_SHARDS are in force."""

    async def release_lease(self, holder: str) -> None:
        """Give the lease up so another worker can take over at once."""

    async def pending(self, limit: int, after: int | None = None) -> list[PendingMessage]:
        """Unpublished, unclaimed, unparked messages, oldest first, never one that would
        overtake an older message of the same key that a fast path holds; with `after`,
        only those placed after that position."""

    async def mark_published(self, event_ids: Sequence[str], fence: Fence | None = None) -> int:
        """Record that Kafka acknowledged these messages; with `fence`, only while that
        lease generation is still held. Return how many were marked."""

    async def extend_claims(self, event_ids: Sequence[str], owner: str, ttl: float) -> None:
        """Keep `owner`'s fast-path claims on these unpublished messages for `ttl` more
        seconds of the database's clock (while their sends are still in flight)."""

    async def mark_failed(
        self, event_ids: Sequence[str], error: str, *, count_attempt: bool, max_attempts: int
    ) -> None:
        """Release any fast-path claim so the relay retries; with `count_attempt`, count
        the attempt and park the rows that reached `max_attempts`."""

    async def backlog(self) -> Backlog:
        """How many messages wait, since when, and how many are parked."""


@dataclass(frozen=True)
class ShardLease:
    """A shard's relay lease as stored: its live holder (None when free or lapsed)."""

    shard: int
    holder: str | None
    expires_at: datetime | None
    generation: int


class RelayMembers(Protocol):
    """The relays alive, by their heartbeats, and the shards' leases."""

    async def heartbeat(self, holder: str, ttl: float) -> int:
        """Say `holder` is alive for `ttl` seconds; return how many relays are."""

    async def leave(self, holder: str) -> None:
        """Stop counting `holder` at once (at shutdown)."""

    async def leases(self, shards: int) -> list[ShardLease]:
        """Every shard's lease, in shard order."""

    async def other_schemes(self, shards: int) -> list[str]:
        """The other OUTBOX_SHARDS settings that live relays have ("OUTBOX_SHARDS=4")."""


class Relay(Protocol):
    """What a worker runs to publish the outbox: one relay, or the lanes of its shards."""

    holder: str

    @property
    def is_leader(self) -> bool:
        """True while this worker publishes (all or some of) the outbox."""

    @property
    def shards_held(self) -> list[int]:
        """The shards this worker publishes now."""

    @property
    def shard_conflict(self) -> str | None:
        """The OUTBOX_SHARDS in force when it is not this worker's (which then relays
        nothing), else None."""

    def wake(self) -> None:
        """Run the next cycle now."""

    def start(self) -> None:
        """Start relaying in the background."""

    async def stop(self) -> None:
        """Stop, and wait for the batches in flight."""

    async def drain(self, timeout: float) -> int:
        """Publish what waits, for at most `timeout` seconds; return how many."""

    async def release(self) -> None:
        """Give the lease(s) up so another worker takes over at once."""


class Purge(Protocol):
    async def __call__(self, limit: int) -> int:
        """Delete at most `limit` rows that are past their retention; return how many."""


class Dispatcher(Protocol):
    """Hands messages to the producer right after the transaction that stored them commits."""

    @property
    def fast_path_owner(self) -> str | None:
        """Who claims new messages for immediate publishing, or None to leave them to the relay."""

    def dispatch(self, messages: Sequence[OutboxMessage]) -> None:
        """Start publishing messages that were just committed; never blocks, never raises."""


class Publisher(Protocol):
    async def __call__(self, messages: Sequence[PendingMessage]) -> list[SendFailure | None]:
        """Send in order and wait for Kafka's acknowledgements: None for each acknowledged
        message, a SendFailure for each that was not."""


@dataclass(frozen=True)
class Sent:
    """What a Publisher call came to, sorted by what each outcome means."""

    acked: list[str]
    outages: list[str]
    faults: list[str]  # the messages' own fault: counted towards parking
    held_back: list[str]
    error: str | None

    @classmethod
    def of(cls, messages: Sequence[PendingMessage], results: Sequence[SendFailure | None]) -> Sent:
        outcomes = list(zip(messages, results, strict=True))
        failures = [r for _, r in outcomes if r is not None and not r.held_back]
        return cls(
            acked=[m.event_id for m, r in outcomes if r is None],
            outages=[m.event_id for m, r in outcomes if r is not None and r.outage],
            faults=[
                m.event_id for m, r in outcomes if r is not None and not (r.outage or r.held_back)
            ],
            held_back=[m.event_id for m, r in outcomes if r is not None and r.held_back],
            error=failures[0].error if failures else None,
        )

    async def record_failures(
        self, store: OutboxStore, health: PublishHealth, max_attempts: int
    ) -> None:
        """Release what failed for the relay's next try; count the messages' own faults
        towards parking; report outages and faults to `health`."""
        error = self.error or "unknown"
        if self.outages:
            health.failed(len(self.outages), error)
        if self.faults:
            health.faulted(len(self.faults), error)
            await store.mark_failed(
                self.faults, error, count_attempt=True, max_attempts=max_attempts
            )
        uncounted = self.outages + self.held_back
        if uncounted:
            await store.mark_failed(
                uncounted, error, count_attempt=False, max_attempts=max_attempts
            )
