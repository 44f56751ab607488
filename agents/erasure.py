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

from faust.types import EventT, StreamT

from streamapp import topics
from streamapp.app import app
from users_service.domain.commands import Poison, decode_json_object
from users_service.domain.erasure import EraseOutcome, EraseUserCommand, parse_erase_user
from users_service.domain.errors import StorageUnavailable
from users_service.service_layer import log_context
from users_service.service_layer.retry import retry_while_unavailable

log = logging.getLogger("users.erasure")

settings = app.settings
# Raw: decoded here, so a poison message cannot crash the stream.
erase_user_topic = topics.declare(app, settings).user_erase


def _decode(event: EventT[Any]) -> EraseUserCommand | Poison:
    """The typed command in `event`, or why there is none (never raises)."""
    body = decode_json_object(event.message.value, settings.kafka.command_max_bytes)
    return body if isinstance(body, Poison) else parse_erase_user(body)


async def settle_erase(event: EventT[Any]) -> EraseOutcome | None:
    """Give one erase command its outcome (or park it); never raises."""
    command = _decode(event)
    if isinstance(command, Poison):
        await app.dead_letters.park(event.message, command)
        return None
    with log_context.scope(command_id=command.command_id):
        return await _handle(event, command)


async def _handle(event: EventT[Any], command: EraseUserCommand) -> EraseOutcome | None:
    try:
        outcome = await retry_while_unavailable(
            partial(app.users.erasure.handle, command),
            what="erasing a user",
            log=log,
            give_up_after=settings.database.retry_timeout,
            backoff=settings.database.retry_backoff,
        )
    except StorageUnavailable as exc:
        await app.dead_letters.park(event.message, Poison("database_unavailable", str(exc)[:200]))
        return None
    except Exception as exc:
        # A bug, not bad data: park the message rather than retry it forever or drop it.
        log.exception("erase command failed; parking it")
        await app.dead_letters.park(event.message, Poison("processing_error", repr(exc)[:200]))
        return None
    log.info(
        "erase command %s: %s%s",
        outcome.command_id,
        outcome.result,
        ", as when first handled (a redelivery)" if outcome.duplicate else "",
        extra={"outcome": outcome.result},
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
