"""The self-verifying consumer: every `user.created` event is checked against the database."""

from __future__ import annotations

import logging
from typing import Any

from faust.types import StreamT

from streamapp.app import app

log = logging.getLogger("users.verifier")

# Raw bytes on purpose: the point is to check what was really published, and a message
# that would not deserialize must be counted, not crash the agent.
user_created_topic = app.topic(
    app.settings.user_created_topic,
    key_serializer="raw",
    value_serializer="raw",
    partitions=app.settings.kafka_partitions,
    replicas=app.settings.kafka_replication_factor,
)


@app.agent(user_created_topic)
async def verify_user_created(stream: StreamT[Any]) -> None:
    """Check each USER_CREATED event; count outcomes; never die on a bad message."""
    verifier = app.container.verifier
    async for event in stream.events():
        message = event.message
        headers = dict(message.headers or {})
        try:
            reason = await verifier.check(message.key, message.value, headers)
        except Exception:
            # E.g. the database is briefly unreachable: count it and keep consuming.
            verifier.counts.failures["verifier_error"] += 1
            log.exception("could not verify the message at offset %s", message.offset)
            continue
        if reason:
            log.warning(
                "user.created message at partition %s offset %s failed verification: %s",
                message.partition,
                message.offset,
                reason,
            )
