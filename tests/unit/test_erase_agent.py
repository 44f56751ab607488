"""The `user.erase` agent in process (Faust's `agent.test_context()`), over a fake store:
an erase command erases once per command id; what is not one is parked."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime
from typing import Any

import faust
import pytest

from agents.erasure import erase_users
from models.user_deleted import DeletionRecordEncoder
from streamapp.app import app
from streamapp.wiring import Wiring, wire
from tests.support.waiting import eventually
from users_service.domain.commands import Poison
from users_service.domain.erasure import EraseOutcome, EraseResult, Erasure
from users_service.domain.model import OutboxMessage
from users_service.service_layer.erasure import ErasureService


class FakeErasureStore:
    def __init__(self, users: set[str]) -> None:
        self.users = users
        self.published: list[OutboxMessage] = []
        self.commands: dict[str, EraseOutcome] = {}

    async def erase(
        self, user_id: str, deleted: OutboxMessage, *, command_id: str | None = None
    ) -> bool:
        erased = user_id in self.users
        self.users.discard(user_id)
        if erased:
            self.published.append(deleted)
        if command_id is not None:
            result: EraseResult = "erased" if erased else "not_found"
            self.commands[command_id] = EraseOutcome(
                command_id, result, user_id=user_id, duplicate=True
            )
        return erased

    async def command_outcome(self, command_id: str) -> EraseOutcome | None:
        return self.commands.get(command_id)

    async def erased_since(self, since: datetime, limit: int = 10_000) -> list[Erasure]:
        return []


class FakeDeadLetters:
    topic = "user.create.dlq"

    def __init__(self) -> None:
        self.parked: list[tuple[bytes | None, str]] = []

    async def park(self, message: Any, poison: Poison) -> None:
        self.parked.append((message.value, poison.reason))


@pytest.fixture
async def wired() -> AsyncIterator[Wiring]:
    base = wire(app, app.settings)
    app.provide(base)
    yield base
    app.provide(base)


async def test_the_erase_agent_erases_once_per_command_and_parks_the_rest(
    wired: Wiring,
) -> None:
    user_id = str(uuid.uuid4())
    store, dead_letters = FakeErasureStore({user_id}), FakeDeadLetters()
    erasure = ErasureService(store, DeletionRecordEncoder(), "user.deleted")
    app.provide(replace(wired, erasure=erasure, dead_letters=dead_letters))  # type: ignore[arg-type]
    command = json.dumps({"commandId": str(uuid.uuid4()), "userId": user_id}).encode()
    unknown = json.dumps({"commandId": str(uuid.uuid4()), "userId": str(uuid.uuid4())}).encode()
    channel = app.channel(schema=faust.Schema(key_serializer="raw", value_serializer="raw"))

    async with erase_users.test_context(channel=channel) as agent:
        for value in (command, command, b"[1]", b'{"commandId": "x"}', unknown):
            await agent.put(value, wait=False)

        async def all_handled() -> bool:
            return len(dead_letters.parked) == 2 and len(store.commands) == 2

        await eventually(all_handled, timeout=10, what="every erase command handled")

    [deleted] = store.published  # the redelivery erased nothing more
    assert (deleted.event_type, deleted.key, deleted.topic) == (
        "USER_DELETED",
        user_id,
        "user.deleted",
    )
    assert json.loads(deleted.payload)["data"] == {"id": user_id}
    assert [reason for _, reason in dead_letters.parked] == ["not_an_object", "invalid"]
    assert sorted(o.result for o in store.commands.values()) == ["erased", "not_found"]
