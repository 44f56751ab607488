"""`/users/v1/events/verification`: the verifier's counts, reconciliation and the outbox backlog."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from faust.web import Request, Response

from storage.errors import unavailable_as_storage_error
from streamapp.app import app
from web.responses import ApiView


def _assigned_partitions() -> int:
    """Partitions this worker's consumer holds now: 0 until it has joined its group."""
    try:
        return len(app.consumer.assignment())
    except Exception:  # the consumer has not started (Kafka not reached yet)
        return 0


def _age(since: datetime | None) -> float | None:
    return round((datetime.now(UTC) - since).total_seconds(), 3) if since else None


@app.page("/users/v1/events/verification")
class VerificationView(ApiView):
    """What the self-verifying consumer found, and what still waits to be published."""

    async def get(self, request: Request) -> Response:
        container = app.container
        async with unavailable_as_storage_error():
            reconciliation = await container.verifications.reconcile()
            backlog = await container.outbox_store.backlog()
        health = container.health
        body: dict[str, Any] = {
            "worker": {"partitionsAssigned": _assigned_partitions()},
            **container.verifier.counts.as_json(),
            "reconciliation": {
                "unverifiedUsers": reconciliation.unverified_users,
                "oldestUnverifiedAgeSeconds": _age(reconciliation.oldest_unverified_created_at),
                "eventsWithoutUser": reconciliation.events_without_user,
            },
            "outbox": {
                "pending": backlog.pending,
                "oldestPendingAgeSeconds": _age(backlog.oldest_pending_created_at),
                "publishedTotal": health.published_total,
                "publishFailures": health.failures_total,
                "lastError": health.last_error,
                "kafkaAvailable": health.fast_path_open,
                "relayLeader": container.relay.is_leader,
            },
        }
        return self.json(body)
