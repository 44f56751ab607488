"""The worker's status as operators read it: verification, reconciliation, the outbox."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from users_service.domain.clock import utc_now
from users_service.service_layer.outbox.health import PublishHealth
from users_service.service_layer.outbox.ports import Backlog, OutboxStore
from users_service.service_layer.outbox.relay import OutboxRelay
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
    kafka_available: bool
    relay_leader: bool

    def age(self, since: datetime | None) -> float | None:
        """Seconds from `since` to this reading, or None."""
        return round((self.at - since).total_seconds(), 3) if since else None


class ServiceStatus:
    """Reads the stores and this worker's in-memory state; raises StorageUnavailable when
    the database cannot be reached (the stores translate driver errors themselves)."""

    def __init__(
        self,
        *,
        verifications: VerificationStore,
        outbox: OutboxStore,
        verifier: Verifier,
        health: PublishHealth,
        relay: OutboxRelay,
        partitions_assigned: Callable[[], int],
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._verifications = verifications
        self._outbox = outbox
        self._verifier = verifier
        self._health = health
        self._relay = relay
        self._partitions_assigned = partitions_assigned
        self._clock = clock

    async def report(self) -> StatusReport:
        """What the verifier found, what still waits to be published, and Kafka's state."""
        reconciliation = await self._verifications.reconcile()
        backlog = await self._outbox.backlog()
        return StatusReport(
            at=self._clock(),
            partitions_assigned=self._partitions_assigned(),
            verification=self._verifier.counts.as_json(),
            reconciliation=reconciliation,
            backlog=backlog,
            published_total=self._health.published_total,
            publish_failures=self._health.failures_total,
            last_error=self._health.last_error,
            kafka_available=self._health.fast_path_open,
            relay_leader=self._relay.is_leader,
        )
