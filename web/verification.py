"""`/users/v1/events/verification`: the verifier's counts, reconciliation and the outbox backlog."""

from __future__ import annotations

from typing import Any

from faust.web import Request, Response

from streamapp.app import app
from users_service.domain.access import OPS_READ
from users_service.domain.clock import isoformat
from web.auth import authorize
from web.responses import ApiView


@app.page("/users/v1/events/verification")
class VerificationView(ApiView):
    """What the self-verifying consumer found, and what still waits to be published."""

    async def get(self, request: Request) -> Response:
        await authorize(request, OPS_READ)  # it shows internals: operators only
        report = await app.status.report()
        body: dict[str, Any] = {
            "worker": {"partitionsAssigned": report.partitions_assigned},
            **report.verification,
            "reconciliation": {
                "unverifiedUsers": report.reconciliation.unverified_users,
                "oldestUnverifiedAgeSeconds": report.age(
                    report.reconciliation.oldest_unverified_created_at
                ),
                "eventsWithoutUser": report.reconciliation.events_without_user,
            },
            "outbox": {
                "pending": report.backlog.pending,
                "parked": report.backlog.parked,
                "oldestPendingAgeSeconds": report.age(report.backlog.oldest_pending_created_at),
                "publishedTotal": report.published_total,
                "publishFailures": report.publish_failures,
                "lastError": report.last_error,
                "lastErrorAt": isoformat(report.last_error_at) if report.last_error_at else None,
                "kafkaAvailable": report.kafka_available,
                "relayLeader": report.relay_leader,
                "relayShards": report.relay_shards,
                "relayShardConflict": report.relay_shard_conflict,
            },
        }
        return self.json(body)
