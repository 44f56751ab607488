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
from hypothesis import given

from agents.commands import create_users
from agents.verifier import verifier_agent
from models.events import USER_CREATED_SHAPE
from streamapp.app import app
from streamapp.wiring import Wiring, wire
from tests.support.fakes import (
    FakeDispatcher,
    FakeState,
    FakeVerificationStore,
    fake_users_service,
)
from tests.support.messages import ANA, user_created_message
from tests.support.verifier_batches import STORED, Delivery, batches
from tests.support.waiting import eventually
from users_service.domain.commands import Poison
from users_service.domain.errors import StorageUnavailable
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
    users = fake_users_service(state, FakeDispatcher())
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
        self.commands = self

    async def handle(self, command: Any) -> None:
        self.calls += 1
        raise StorageUnavailable("database unavailable: ConnectionRefusedError")


async def test_a_command_held_past_the_retry_ceiling_is_parked_with_its_reason(
    wired: Wiring,
) -> None:
    dead_letters, users = FakeDeadLetters(), UnreachableUsers()
    settings = wired.settings.replaced(database={"retry_timeout": 0.3})
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


BEA = replace(ANA, id="0190a0b0-0000-7000-8000-000000000002", email="bea@example.com")


def as_kafka_headers(headers: dict[str, str]) -> list[tuple[str, bytes | None]]:
    """Headers as aiokafka hands them over: a list of (name, bytes or None)."""
    return [(name, value.encode()) for name, value in headers.items()]


async def test_an_event_with_a_null_header_spoils_nothing_of_its_batch(wired: Wiring) -> None:
    """aiokafka gives a header without a value as None; that event is judged bad on its
    own, and the good ones of its batch are recorded."""
    store = FakeVerificationStore([ANA, BEA])
    app.provide(replace(wired, verifier=Verifier(store, USER_CREATED_SHAPE)))
    good = [user_created_message(ANA), user_created_message(BEA)]
    bad = user_created_message(BEA)
    null_headers = [("eventId", None), ("eventType", b"USER_CREATED")]

    assert verifier_agent is not None
    async with verifier_agent.test_context(channel=raw_channel()) as agent:
        await agent.put(
            good[0].payload,
            key=ANA.id.encode(),
            headers=as_kafka_headers(good[0].headers),
            wait=False,
        )
        await agent.put(bad.payload, key=BEA.id.encode(), headers=null_headers, wait=False)
        await agent.put(
            good[1].payload,
            key=BEA.id.encode(),
            headers=as_kafka_headers(good[1].headers),
            wait=False,
        )

        async def judged() -> bool:
            counts = app.verifier.counts
            return counts.verified + counts.failed == 3

        await eventually(judged, timeout=10, what="three events judged")

    counts = app.verifier.counts
    assert counts.received == 3
    assert (counts.verified, dict(counts.failures)) == (2, {"header_event_id_mismatch": 1})
    assert store.recorded == {good[0].event_id: "verified", good[1].event_id: "verified"}


class StoreDownOnce(FakeVerificationStore):
    """The database away for the first read, then back."""

    def __init__(self, users: list[Any]) -> None:
        super().__init__(users)
        self.reads = 0

    async def get_users(self, user_ids: Any) -> Any:
        self.reads += 1
        if self.reads == 1:
            raise StorageUnavailable("database unavailable: ConnectionRefusedError")
        return await super().get_users(user_ids)


async def test_an_event_is_received_once_however_often_its_batch_is_retried(
    wired: Wiring,
) -> None:
    store = StoreDownOnce([ANA])
    app.provide(replace(wired, verifier=Verifier(store, USER_CREATED_SHAPE)))
    event = user_created_message(ANA)

    assert verifier_agent is not None
    async with verifier_agent.test_context(channel=raw_channel()) as agent:
        await agent.put(
            event.payload, key=ANA.id.encode(), headers=as_kafka_headers(event.headers), wait=False
        )

        async def verified() -> bool:
            return app.verifier.counts.verified == 1

        await eventually(verified, timeout=10, what="the event verified after the outage")

    assert store.reads == 2  # retried once the database was back
    assert app.verifier.counts.received == 1


class StoreDown(FakeVerificationStore):
    def __init__(self, users: list[Any]) -> None:
        super().__init__(users)
        self.reads = 0

    async def get_users(self, user_ids: Any) -> Any:
        self.reads += 1
        raise StorageUnavailable("database unavailable: ConnectionRefusedError")


async def put_as_kafka(agent: Any, value: bytes | None, key: bytes | None, headers: Any) -> Any:
    """Put a message the way the consumer hands one over: with the one reference it takes
    for each stream that reads the topic (the test channel takes none), so an event is
    acknowledged only when that stream gives its reference back."""
    message = agent.to_message(key, value, offset=agent.sent_offset, headers=headers)
    message.incref()
    channel = agent.stream().channel
    event = await channel.decode(message)
    await channel.put(event)
    agent.sent_offset += 1
    return event


async def test_a_batch_held_by_an_outage_is_not_acknowledged(wired: Wiring) -> None:
    """faust's take_events acknowledges a batch in a `finally`; the agent's own reference
    keeps an event unacknowledged while the database is away, and after a stop then."""
    store = StoreDown([ANA])
    app.provide(replace(wired, verifier=Verifier(store, USER_CREATED_SHAPE)))
    message = user_created_message(ANA)

    assert verifier_agent is not None
    async with verifier_agent.test_context(channel=raw_channel()) as agent:
        event = await put_as_kafka(
            agent, message.payload, ANA.id.encode(), as_kafka_headers(message.headers)
        )

        async def retried() -> bool:
            return store.reads >= 2

        await eventually(retried, timeout=10, what="the batch retried")
        assert not event.message.acked
    assert not event.message.acked  # stopped mid-outage: the next worker checks it
    assert app.verifier.counts.verified + app.verifier.counts.failed == 0


async def test_a_judged_batch_is_acknowledged(wired: Wiring) -> None:
    """The other side of the test above: put the same way, a judged event is acknowledged
    (so that test's unacknowledged event means something)."""
    store = FakeVerificationStore([ANA])
    app.provide(replace(wired, verifier=Verifier(store, USER_CREATED_SHAPE)))
    message = user_created_message(ANA)

    assert verifier_agent is not None
    async with verifier_agent.test_context(channel=raw_channel()) as agent:
        event = await put_as_kafka(
            agent, message.payload, ANA.id.encode(), as_kafka_headers(message.headers)
        )

        async def acked() -> bool:
            return bool(event.message.acked)

        await eventually(acked, timeout=10, what="the event acknowledged")
    assert app.verifier.counts.verified == 1


@pytest.mark.property
@given(batch=batches())
async def test_the_agent_acknowledges_and_records_each_good_event_of_any_batch(
    wired: Wiring, batch: list[Delivery]
) -> None:
    """Property (d) through the agent itself: headers as aiokafka hands them over, each
    message judged once and acknowledged once judged, every good event recorded."""
    store = FakeVerificationStore(STORED)
    app.provide(replace(wired, verifier=Verifier(store, USER_CREATED_SHAPE)))

    assert verifier_agent is not None
    async with verifier_agent.test_context(channel=raw_channel()) as agent:
        events = [await put_as_kafka(agent, d.value, d.key, d.headers) for d in batch]

        async def all_acknowledged() -> bool:
            return all(event.message.acked for event in events)

        await eventually(all_acknowledged, timeout=10, what="every message acknowledged")

    counts = app.verifier.counts
    assert counts.received == len(batch)
    assert counts.verified + counts.duplicates + counts.failed == len(batch)
    good = {d.good_event_id for d in batch if d.good_event_id}
    assert {e: store.recorded.get(e) for e in good} == {e: "verified" for e in good}
    assert "verifier_error" not in counts.failures
