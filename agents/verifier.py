"""The self-verifying consumer: every `user.created` event is checked against the database."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, cast

from faust import Stream
from faust.types import AgentT, StreamT

from streamapp import message_spans, topics
from streamapp.app import app
from users_service.domain.errors import StorageUnavailable
from users_service.domain.verification import header_map
from users_service.service_layer.retry import retry_while_unavailable
from users_service.service_layer.verifier import RawMessage

log = logging.getLogger("users.verifier")

# Raw bytes on purpose: the point is to check what was really published, and a message
# that would not deserialize must be counted, not crash the agent.
user_created_topic = topics.declare(app, app.settings).user_created


async def verify_user_created(stream: StreamT[Any]) -> None:
    """Check USER_CREATED events in batches; count outcomes; never die on a bad message."""
    async for events in cast(Stream[Any], stream).take_events(
        app.settings.kafka.verifier_batch_size, within=app.settings.kafka.verifier_batch_window
    ):
        # As for commands: a reference per message, given back once it is checked, so an
        # event cut off by a stop is not acknowledged unchecked (faust-streaming #606).
        for event in events:
            event.message.incref()
        if not app.lifecycle.accepting_requests:
            continue  # shutting down: the next worker checks these
        messages = [(e.message.key, e.message.value, header_map(e.message.headers)) for e in events]
        # Each event's check is a span in its own trace (the sign-up's, through the stored
        # creation context the outbox published).
        spans = message_spans.start_all(
            [(e.message, headers) for e, (_, _, headers) in zip(events, messages, strict=True)],
            app.settings.kafka.group_id,
            enabled=app.tracing is not None,
        )
        async with app.lifecycle.working():
            reasons = await _until_checked(messages)
        for span, reason in zip(spans, reasons[: len(spans)], strict=True):
            message_spans.end(span, reason)
        # Only now: a batch held by an outage (or cut off by a stop while it waits) keeps
        # the references taken above, so it is not acknowledged as checked.
        for event in events:
            event.ack()
        for event, reason in zip(events, reasons, strict=True):
            if reason:
                log.warning(
                    "user.created message at partition %s offset %s failed verification: %s",
                    event.message.partition,
                    event.message.offset,
                    reason,
                )


# VERIFIER_ENABLED=false: this worker does not subscribe to user.created at all; Faust's
# assignor gives its partitions to the workers of the group that do (a verifier role).
verifier_agent: AgentT[Any] | None = (
    app.agent(user_created_topic, name="agents.verifier.verify_user_created")(verify_user_created)
    if app.settings.operations.verifier_enabled
    else None
)


async def _until_checked(messages: Sequence[RawMessage]) -> list[str | None]:
    # The batch is acknowledged once this returns: retry while the database is away
    # rather than leave events unverified for good.
    verifier = app.verifier
    # Read once (and counted as received once); only the database part is retried.
    inspections = verifier.inspect(messages)
    try:
        return await retry_while_unavailable(
            lambda: verifier.settle(inspections),
            what="verifying",
            log=log,
            give_up_after=app.settings.database.retry_timeout,
            backoff=app.settings.database.retry_backoff,
        )
    except StorageUnavailable:
        # Left unverified: the reconciliation reports these users until a replay.
        log.error("database unavailable too long; %d event(s) left unverified", len(messages))
        verifier.counts.failures["database_unavailable"] += len(messages)
        return ["database_unavailable"] * len(messages)
    except Exception:
        log.exception("could not verify %d message(s)", len(messages))
        verifier.counts.failures["verifier_error"] += len(messages)
        return ["verifier_error"] * len(messages)
