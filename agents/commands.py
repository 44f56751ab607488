"""Command in, event out: CreateUser commands from `user.create`.

Every command ends with exactly one outcome: the user and its USER_CREATED, a
USER_CREATE_REJECTED (both committed to the database with the command id), or the message
parked on the dead-letter topic (acknowledged by Kafka). Only then may its offset be
committed: a crash or a stop before that redelivers it, and the command id makes the
redelivery a no-op.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Sequence
from functools import partial
from typing import Any, cast

from faust import Stream
from faust.types import EventT, StreamT

from streamapp import message_spans, topics
from streamapp.app import app
from users_service.domain.commands import (
    CommandOutcome,
    CreateUserCommand,
    Poison,
    decode_json_object,
    parse_create_user,
)
from users_service.domain.errors import StorageUnavailable
from users_service.domain.verification import header_map
from users_service.service_layer import log_context
from users_service.service_layer.retry import retry_while_unavailable

log = logging.getLogger("users.commands")

settings = app.settings
# Raw: decoded here, so a poison message cannot crash the stream.
create_user_topic = topics.declare(app, settings).user_create


async def _park(event: EventT[Any], poison: Poison) -> None:
    await app.dead_letters.park(event.message, poison)
    log.warning(
        "command at %s[%s]@%s parked on %s: %s",
        event.message.topic,
        event.message.partition,
        event.message.offset,
        app.dead_letters.topic,
        poison.reason,
    )


def _log_outcome(outcome: CommandOutcome) -> None:
    what = {
        "created": f"created user {outcome.user_id}",
        "rejected": f"rejected ({outcome.code})",
    }.get(outcome.result, outcome.result)
    if outcome.duplicate:
        what += ", as when first handled (a redelivery)"
    log.info(
        "command %s: %s",
        outcome.command_id or "(no commandId)",
        what,
        extra={"outcome": outcome.result, "code": outcome.code},
    )


def _decode(event: EventT[Any]) -> CreateUserCommand | Poison:
    """The typed command in `event`, or why there is none (never raises)."""
    body = decode_json_object(event.message.value, settings.kafka.command_max_bytes)
    return body if isinstance(body, Poison) else parse_create_user(body)


async def _settle(event: EventT[Any]) -> None:
    """Give `event` its one outcome; returns once that outcome is durable."""
    command = _decode(event)
    if isinstance(command, Poison):
        await _park(event, command)
        return
    # The command's own traceparent continued: its outcome event is written (and so
    # stored with its context) inside this span.
    with (
        message_spans.processing(
            event.message,
            header_map(event.message.headers),
            settings.kafka.group_id,
            enabled=app.tracing is not None,
        ),
        log_context.scope(command_id=command.command_id),
    ):
        await _handle(event, command)


async def _handle(event: EventT[Any], command: CreateUserCommand) -> None:
    try:
        # While the database is away, holding this partition is the price of not losing
        # the command; past the ceiling it is set aside on the DLQ, for a replay.
        outcome = await retry_while_unavailable(
            partial(app.users.commands.handle, command),
            what="handling the command",
            log=log,
            give_up_after=app.settings.database.retry_timeout,
            backoff=app.settings.database.retry_backoff,
        )
    except StorageUnavailable as exc:
        await _park(event, Poison("database_unavailable", str(exc)[:200]))
    except Exception as exc:
        # A bug, not bad data: park the message rather than retry it forever or drop it.
        log.exception("command handling failed; parking it")
        await _park(event, Poison("processing_error", repr(exc)[:200]))
    else:
        _log_outcome(outcome)


async def _settle_in_order(events: Sequence[EventT[Any]]) -> None:
    for event in events:
        await _settle(event)
        event.ack()  # the reference taken in create_users: now it may be committed


def _ordering_key(event: EventT[Any]) -> str:
    # Commands for one email must run in order (the first wins, later ones are duplicates),
    # and so must two deliveries of one command (same email); others may hash in parallel.
    command = _decode(event)
    return "" if isinstance(command, Poison) else command.email_hint or ""


@app.agent(create_user_topic, concurrency=1)
async def create_users(stream: StreamT[Any]) -> None:
    """Handle CreateUser commands in small batches; bcrypt runs in parallel across emails.

    faust-streaming acknowledges a batch in a `finally`, even when the body raised or was
    cancelled (faust-streaming #606). So each message gets one more reference here, given
    back only once its outcome is durable: a batch cut short (the worker stopping, a bug)
    leaves its unfinished messages unacknowledged, their offsets uncommitted, and Kafka
    redelivers them. One agent instance (concurrency=1) keeps the batches in order.
    """
    async for events in cast(Stream[Any], stream).take_events(
        settings.kafka.command_batch_size, within=settings.kafka.command_batch_window
    ):
        for event in events:
            event.message.incref()
        if not app.lifecycle.accepting_requests:
            # Shutting down: start nothing new. The references stay taken, so these are
            # not acknowledged, and Kafka gives them to the next worker.
            continue
        groups: dict[str, list[EventT[Any]]] = defaultdict(list)
        for event in events:
            groups[_ordering_key(event)].append(event)
        async with app.lifecycle.working():
            await asyncio.gather(*(_settle_in_order(g) for g in groups.values()))
