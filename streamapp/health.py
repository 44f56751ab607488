"""Readiness: whether this worker should be sent traffic now.

Liveness (`/livez`) checks nothing but the event loop, so that an outage of the database
or of Kafka never gets a pod restarted; readiness checks each dependency and names those
that are not ready.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import faust

from streamapp.workarounds.faust_app import existing_consumer, producer_has_metadata
from users_service.service_layer.lifecycle import Lifecycle

DATABASE_TIMEOUT = 1.0


@dataclass(frozen=True)
class ReadinessReport:
    """Each part, "ok" or why it is not; ready when every part is."""

    parts: dict[str, str]

    @property
    def ready(self) -> bool:
        return all(value == "ok" for value in self.parts.values())

    @property
    def not_ready(self) -> list[str]:
        return [name for name, value in self.parts.items() if value != "ok"]


def consumer_state(app: faust.App) -> str:
    """ "ok" once the consumer has started and is not in a rebalance."""
    consumer = existing_consumer(app)
    if consumer is None or not consumer.started:
        return "the consumer has not started (waiting for Kafka)"
    if app.rebalancing:
        return "the consumer group is rebalancing"
    return "ok"


@dataclass(frozen=True)
class Readiness:
    """Reads each part of the worker's readiness; never raises."""

    app: faust.App
    lifecycle: Lifecycle
    ping_database: Callable[[], Awaitable[object]]

    async def check(self) -> ReadinessReport:
        """The database answers within a second, the producer has metadata, the consumer is
        not rebalancing, the worker is not draining."""
        return ReadinessReport(
            {
                "database": await self._database(),
                "kafkaProducer": "ok"
                if producer_has_metadata(self.app)
                else "the producer has no cluster metadata yet (waiting for Kafka)",
                "kafkaConsumer": consumer_state(self.app),
                "worker": "ok" if self.lifecycle.accepting_requests else "shutting down (draining)",
            }
        )

    async def _database(self) -> str:
        try:
            await asyncio.wait_for(self.ping_database(), DATABASE_TIMEOUT)
        except TimeoutError:
            return f"no answer within {DATABASE_TIMEOUT:g}s"
        except Exception as exc:
            return f"unavailable ({type(exc).__name__})"
        return "ok"
