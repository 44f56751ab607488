"""The worker's status as operators read it: verification, reconciliation, the outbox."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from users_service.domain.clock import utc_now
from users_service.service_layer.outbox.health import PublishHealth
from users_service.service_layer.outbox.ports import Backlog, OutboxStore, Relay
from users_service.service_layer.ports import Reconciliation, VerificationStore
from users_service.service_layer.verifier import Verifier


@dataclass(frozen=True)
class StatusReport:
    """One reading; counts are this worker's since it started, the rest is cluster-wide."""

    at: datetime
    partitions_assigned: int
    verification: dict[str, Any]
    reconciliation: Reconciliation
    backlog: Backlog
    published_total: int
    publish_failures: int
    last_error: str | None
    last_error_at: datetime | None
    kafka_available: bool
    relay_leader: bool
    relay_shards: list[int] = field(default_factory=list)  # the outbox shards it publishes
    # The OUTBOX_SHARDS in force when it is not this worker's: its relay then takes nothing.
    relay_shard_conflict: str | None = None

    def age(self, since: datetime | None) -> float | None:
        """Seconds from `since` to this reading, or None."""
        return round((self.at - since).total_seconds(), 3) if since else None


@dataclass
class _Stored:
    """The last reading of the database, and when it was taken."""

    at: float = float("-inf")
    value: tuple[Reconciliation, Backlog] | None = None
    kafka_at: float = float("-inf")
    kafka_answers: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass(frozen=True)
class ServiceStatus:
    """Reads the stores and this worker's in-memory state; raises StorageUnavailable when
    the database cannot be reached (the stores translate driver errors themselves).

    The database's part (reconciliation scans two tables) is read at most once per
    `cache_for` seconds, however many callers ask at once: a flood of status requests is
    one query a second, not one each."""

    verifications: VerificationStore
    outbox: OutboxStore
    verifier: Verifier
    health: PublishHealth
    relay: Relay
    partitions_assigned: Callable[[], int]
    # Asked, not inferred from the last send: a worker with nothing to publish would
    # otherwise report Kafka available for as long as it sends nothing.
    kafka_answers: Callable[[], Awaitable[bool]] | None = None
    clock: Callable[[], datetime] = utc_now
    cache_for: float = 1.0
    monotonic: Callable[[], float] = time.monotonic
    _stored: _Stored = field(default_factory=_Stored, repr=False)

    async def report(self) -> StatusReport:
        """What the verifier found, what still waits to be published, and Kafka's state."""
        reconciliation, backlog = await self._stored_state()
        return StatusReport(
            at=self.clock(),
            partitions_assigned=self.partitions_assigned(),
            verification=self.verifier.counts.as_json(),
            reconciliation=reconciliation,
            backlog=backlog,
            published_total=self.health.published_total,
            publish_failures=self.health.failures_total,
            last_error=self.health.last_error,
            last_error_at=self.health.last_error_at,
            kafka_available=await self._kafka_available(),
            relay_leader=self.relay.is_leader,
            relay_shards=self.relay.shards_held,
            relay_shard_conflict=self.relay.shard_conflict,
        )

    async def _kafka_available(self) -> bool:
        if not self.health.producer_started:
            return False
        if self.kafka_answers is None:
            return self.health.fast_path_open
        stored = self._stored
        if self.monotonic() - stored.kafka_at >= self.cache_for:
            stored.kafka_answers = await self.kafka_answers()
            stored.kafka_at = self.monotonic()
        return stored.kafka_answers

    async def _stored_state(self) -> tuple[Reconciliation, Backlog]:
        stored = self._stored
        async with stored.lock:  # one reading at a time; those who waited share it
            if stored.value is None or self.monotonic() - stored.at >= self.cache_for:
                stored.value = (await self.verifications.reconcile(), await self.outbox.backlog())
                stored.at = self.monotonic()
            return stored.value
