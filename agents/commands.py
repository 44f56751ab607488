"""Command in, event out: CreateUser commands from `user.create`.

Each outcome (the user and its USER_CREATED, or a USER_CREATE_REJECTED) is committed to
the database with the command id before the message is acknowledged, so a crash
redelivers instead of losing; the command id makes the redelivery a no-op. Poison
messages go to the dead-letter topic; nothing is skipped silently.
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

from streamapp.app import app
from users_service.domain.commands import Poison, decode_json_object, parse_create_user
from users_service.service_layer.retry import retry_while_unavailable

log = logging.getLogger("users.commands")

settings = app.settings
create_user_topic = app.topic(
    settings.user_create_topic,
    key_serializer="raw",
    value_serializer="raw",  # decoded here, so a poison message cannot crash the stream
    partitions=settings.kafka_partitions,
    replicas=settings.kafka_replication_factor,
)


async def _handle_in_order(events: Sequence[EventT[Any]]) -> None:
    for event in events:
        body = decode_json_object(event.message.value, settings.command_max_bytes)
        if isinstance(body, Poison):
            await app.dead_letters.park(event.message, body)
            log.warning("parked a poison command on %s: %s", app.dead_letters.topic, body.reason)
            continue
        try:
            # The offset must not pass an unhandled command: while the database is away,
            # holding this partition is the price of not losing it.
            await retry_while_unavailable(
                partial(app.users.handle_create_user, body),
                what="handling the command",
                log=log,
            )
        except Exception as exc:
            # A bug, not bad data: park the message rather than retry it forever or drop it.
            log.exception("command handling failed; parking it")
            await app.dead_letters.park(event.message, Poison("processing_error", repr(exc)[:200]))


def _ordering_key(event: EventT[Any]) -> str:
    # Commands for one email must run in order (the first wins, later ones are duplicates),
    # and so must two deliveries of one command (same email); others may hash in parallel.
    body = decode_json_object(event.message.value, settings.command_max_bytes)
    if isinstance(body, Poison):
        return ""
    return parse_create_user(body).email_hint or ""


@app.agent(create_user_topic, concurrency=1)
async def create_users(stream: StreamT[Any]) -> None:
    """Handle CreateUser commands in small batches; bcrypt runs in parallel across emails.

    `take_events` acknowledges a batch only once this body has handled all of it; one
    agent instance (concurrency=1) keeps offsets from passing unfinished messages
    (faust-streaming #606).
    """
    async for events in cast(Stream[Any], stream).take_events(
        settings.command_batch_size, within=0.05
    ):
        groups: dict[str, list[EventT[Any]]] = defaultdict(list)
        for event in events:
            groups[_ordering_key(event)].append(event)
        await asyncio.gather(*(_handle_in_order(g) for g in groups.values()))
