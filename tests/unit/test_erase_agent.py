"""The `user.erase` agent in process (Faust's `agent.test_context()`), over the fakes: an
erase command erases once per command id; what is not one is parked."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import faust
import pytest

from agents.erasure import erase_users
from models.events import RecordEncoder
from streamapp.app import app
from streamapp.wiring import Wiring, wire
from tests.support.fakes import FakeErasureStore, FakeState, fake_users_service
from tests.support.waiting import eventually
from users_service import contracts
from users_service.domain.commands import Poison
from users_service.domain.model import User
from users_service.service_layer.erasure import UserErasure


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
    at = datetime.now(UTC)
    state = FakeState(users={user_id: User(user_id, "Ana", "ana@example.com", at, "h")})
    store, dead_letters = FakeErasureStore(state), FakeDeadLetters()
    users = replace(fake_users_service(state), erasure=UserErasure(store, RecordEncoder()))
    app.provide(replace(wired, users=users, dead_letters=dead_letters))  # type: ignore[arg-type]
    command = json.dumps({"commandId": str(uuid.uuid4()), "userId": user_id}).encode()
    unknown = json.dumps({"commandId": str(uuid.uuid4()), "userId": str(uuid.uuid4())}).encode()
    channel = app.channel(schema=faust.Schema(key_serializer="raw", value_serializer="raw"))

    async with erase_users.test_context(channel=channel) as agent:
        for value in (command, command, b"[1]", b'{"commandId": "x"}', unknown):
            await agent.put(value, wait=False)

        async def all_handled() -> bool:
            return len(dead_letters.parked) == 2 and len(store.erase_outcomes) == 2

        await eventually(all_handled, timeout=10, what="every erase command handled")

    [deleted] = state.outbox  # the redelivery erased nothing more
    assert (deleted.event_type, deleted.key, deleted.topic) == (
        "USER_DELETED",
        user_id,
        "user.deleted",
    )
    assert json.loads(deleted.payload)["data"] == {"id": user_id}
    assert deleted.headers["commandId"] == json.loads(command)["commandId"]
    assert state.users == {}
    assert [reason for _, reason in dead_letters.parked] == ["not_an_object", "invalid"]
    # Reasons the contract names for a dead letter (`dlq.reason`).
    headers = contracts.load("asyncapi")["components"]["schemas"]["DeadLetterHeaders"]
    assert {"not_an_object", "invalid"} <= set(headers["properties"]["dlq.reason"]["enum"])
    assert sorted(o.result for o in store.erase_outcomes.values()) == ["erased", "not_found"]
