"""The agents in process, through Faust's `agent.test_context()`: no broker, no database.

The app gets fakes through its public `provide()`; messages go in as raw bytes, the way
the agents read them from Kafka.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import faust
import pytest

from agents.commands import create_users
from agents.verifier import verifier_agent
from models.events import USER_CREATED_SHAPE, RecordEncoder
from streamapp.app import app
from streamapp.wiring import Wiring, wire
from tests.support.fakes import (
    FakeDispatcher,
    FakeHasher,
    FakeState,
    FakeUnitOfWork,
    FakeUsers,
    FakeVerificationStore,
)
from tests.support.messages import ANA, user_created_message
from tests.support.waiting import eventually
from users_service.domain.commands import Poison
from users_service.domain.errors import StorageUnavailable
from users_service.service_layer.users import UsersService
from users_service.service_layer.verifier import Verifier

USER = ANA


class FakeDeadLetters:
    topic = "user.create.dlq"

    def __init__(self) -> None:
        self.parked: list[tuple[bytes | None, Poison]] = []

    async def park(self, message: Any, poison: Poison) -> None:
        self.parked.append((message.value, poison))


@pytest.fixture
async def wired() -> AsyncIterator[Wiring]:
    """The app wired as usual (nothing connects), then given fakes; restored afterwards."""
    base = wire(app, app.settings)
    app.provide(base)
    yield base
    app.provide(base)


def raw_channel() -> Any:
    # The agents' topics carry raw bytes; so does the test channel.
    return app.channel(schema=faust.Schema(key_serializer="raw", value_serializer="raw"))


async def test_the_verifier_agent_judges_each_message_it_is_given(wired: Wiring) -> None:
    store = FakeVerificationStore([USER])
    app.provide(replace(wired, verifier=Verifier(store, USER_CREATED_SHAPE)))
    event = user_created_message(USER)
    headers = {k: v.encode() for k, v in event.headers.items()}

    assert verifier_agent is not None  # VERIFIER_ENABLED defaults to true
    async with verifier_agent.test_context(channel=raw_channel()) as agent:
        await agent.put(event.payload, key=USER.id.encode(), headers=headers, wait=False)
        await agent.put(b"not json", key=b"x", wait=False)
        await agent.put(event.payload, key=USER.id.encode(), headers=headers, wait=False)

        async def all_seen() -> bool:
            return app.verifier.counts.received == 3

        await eventually(all_seen, timeout=10, what="three messages verified")

    counts = app.verifier.counts
    assert (counts.verified, counts.duplicates, dict(counts.failures)) == (1, 1, {"not_json": 1})
    assert store.recorded == {event.event_id: "verified"}


async def test_the_command_agent_creates_rejects_and_parks(wired: Wiring) -> None:
    state, dead_letters = FakeState(), FakeDeadLetters()
    users = UsersService(
        uow=lambda: FakeUnitOfWork(state, FakeDispatcher()),
        queries=FakeUsers({}, state),
        passwords=FakeHasher(),
        encoder=RecordEncoder(),
        user_created_topic="user.created",
    )
    app.provide(replace(wired, users=users, dead_letters=dead_letters))  # type: ignore[arg-type]
    valid = {
        "commandId": str(uuid.uuid4()),
        "nombre": "Bea",
        "email": "bea@example.com",
        "password": "correct-horse",
    }
    invalid = {**valid, "commandId": str(uuid.uuid4()), "email": "nope"}

    async with create_users.test_context(channel=raw_channel()) as agent:
        await agent.put(json.dumps(valid).encode(), key=b"bea@example.com", wait=False)
        await agent.put(b"[1, 2]", key=b"x", wait=False)
        await agent.put(json.dumps(invalid).encode(), key=b"nope", wait=False)

        async def all_handled() -> bool:
            return len(state.outbox) == 2 and len(dead_letters.parked) == 1

        await eventually(all_handled, timeout=10, what="every command handled")

    [user] = state.users.values()
    assert user.email == "bea@example.com"
    assert [m.event_type for m in state.outbox] == ["USER_CREATED", "USER_CREATE_REJECTED"]
    assert state.commands[valid["commandId"]].result == "created"
    assert state.commands[invalid["commandId"]].code == "invalid"
    assert dead_letters.parked == [
        (b"[1, 2]", Poison("not_an_object", "a JSON list, not an object"))
    ]


class UnreachableUsers:
    """A service whose database never comes back."""

    def __init__(self) -> None:
        self.calls = 0

    async def handle_create_user(self, body: Any) -> None:
        self.calls += 1
        raise StorageUnavailable("database unavailable: ConnectionRefusedError")


async def test_a_command_held_past_the_retry_ceiling_is_parked_with_its_reason(
    wired: Wiring,
) -> None:
    dead_letters, users = FakeDeadLetters(), UnreachableUsers()
    settings = replace(wired.settings, database_retry_timeout=0.3)
    app.provide(replace(wired, settings=settings, users=users, dead_letters=dead_letters))  # type: ignore[arg-type]
    value = json.dumps({"commandId": str(uuid.uuid4()), "nombre": "Bea"}).encode()

    async with create_users.test_context(channel=raw_channel()) as agent:
        await agent.put(value, key=b"k", wait=False)

        async def parked() -> bool:
            return bool(dead_letters.parked)

        await eventually(parked, timeout=10, what="the command parked")

    [(parked_value, poison)] = dead_letters.parked
    assert parked_value == value and poison.reason == "database_unavailable"
    assert users.calls >= 2  # it was retried before giving up
