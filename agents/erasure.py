"""Command in, erasure out: EraseUser commands (`{"commandId", "userId"}`) from `user.erase`.

The same use case as `DELETE /users/v1/users/{id}`, once per command id: the outcome
(`erased` or `not_found`) is recorded in the command log in the erasure's transaction, so a
redelivered command changes nothing. A message that is not a JSON object, or names no
valid ids, is parked on the dead-letter topic; the offset is committed only after that.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from faust.types import StreamT

from streamapp.app import app
from users_service.domain.commands import Poison, decode_json_object
from users_service.domain.erasure import EraseOutcome
from users_service.domain.errors import StorageUnavailable
from users_service.service_layer.retry import retry_while_unavailable

log = logging.getLogger("users.erasure")

settings = app.settings
erase_user_topic = app.topic(
    settings.user_erase_topic,
    key_serializer="raw",
    value_serializer="raw",  # decoded here, so a poison message cannot crash the stream
    partitions=settings.kafka_partitions,
    replicas=settings.kafka_replication_factor,
)


async def settle_erase(event: Any) -> EraseOutcome | None:
    """Give one erase command its outcome (or park it); never raises."""
    body = decode_json_object(event.message.value, settings.command_max_bytes)
    if isinstance(body, Poison):
        await app.dead_letters.park(event.message, body)
        return None
    try:
        outcome = await retry_while_unavailable(
            partial(app.wiring.erasure.handle_erase_user, body),
            what="erasing a user",
            log=log,
            give_up_after=settings.database_retry_timeout,
        )
    except StorageUnavailable as exc:
        await app.dead_letters.park(event.message, Poison("database_unavailable", str(exc)[:200]))
        return None
    except Exception as exc:
        log.exception("erase command failed; parking it")
        await app.dead_letters.park(event.message, Poison("processing_error", repr(exc)[:200]))
        return None
    if outcome.result == "rejected":
        problems = dict(outcome.problems or {})
        await app.dead_letters.park(event.message, Poison("invalid", f"problems: {problems}"))
    log.info(
        "erase command %s: %s%s",
        outcome.command_id or "(no commandId)",
        outcome.result,
        ", as when first handled (a redelivery)" if outcome.duplicate else "",
        extra={"outcome": outcome.result, "user_id": outcome.user_id},
    )
    return outcome


@app.agent(erase_user_topic, concurrency=1)
async def erase_users(stream: StreamT[Any]) -> None:
    """Handle EraseUser commands one at a time, in order."""
    async for event in stream.events():
        # Handled even while draining: an erasure is short, and one skipped here would be
        # acknowledged unhandled when the stream moves on.
        async with app.lifecycle.working():
            await settle_erase(event)
