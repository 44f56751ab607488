"""Property (a), in process: whatever arrives on `user.create` (any bytes, JSON of any
shape, depth and encoding, escaped keys, null and ~1 MB keys and headers) ends in exactly
one outcome, an event (USER_CREATED or USER_CREATE_REJECTED) or a parked record, and none
of them holds the message's password or its bcrypt hash, in any form.

The agent runs through Faust's `agent.test_context()` with the service on fakes and the
real `DeadLetters` on a producer that refuses what aiokafka's would (over 1,000,000 bytes
as Kafka frames it). A message is done once the agent acknowledged it: the agent gives
its reference back only after the outcome is durable, so one outcome then, not zero.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
import re2  # type: ignore[import-untyped]
from hypothesis import HealthCheck, given, settings

from agents.commands import create_users
from streamapp.app import app
from streamapp.wiring import Wiring, wire
from tests.support.command_strategies import Generated, messages
from tests.support.fakes import FakeDispatcher, FakeHasher, FakeState, fake_users_service
from tests.support.secrets import leaks
from tests.support.waiting import eventually
from tests.unit.test_agents_in_process import raw_channel
from tests.unit.test_dead_letters import FAST, App, SizeCheckingProducer
from users_service.adapters.kafka.dead_letters import DeadLetters

pytestmark = pytest.mark.property

# The head of a bcrypt hash, however it came to be there.
BCRYPT_HEAD = re2.compile(rb"\$2[abxy]\$[0-9]{2}\$")
RUN: dict[str, float] = {"examples": 0, "seconds": 0.0}


@pytest.fixture
async def agent() -> AsyncIterator[Any]:
    """One running agent for all the examples of a test; each example gets fresh fakes."""
    base = wire(app, app.settings)
    app.provide(base)
    async with create_users.test_context(channel=raw_channel()) as running:
        yield running
    app.provide(base)
    print(f"\nproperty (a) in process: {RUN['examples']:.0f} examples, {RUN['seconds']:.1f}s")


def fresh(base: Wiring) -> tuple[FakeState, FakeHasher, SizeCheckingProducer]:
    state, hasher, producer = FakeState(), FakeHasher(), SizeCheckingProducer()
    users = fake_users_service(state, FakeDispatcher(), passwords=hasher)
    dead_letters = DeadLetters(App(producer), "user.create.dlq", backoff=FAST)
    app.provide(replace(base, users=users, dead_letters=dead_letters))
    return state, hasher, producer


def outcomes(state: FakeState, producer: SizeCheckingProducer) -> list[list[bytes | None]]:
    """Each outcome as the bytes it would put on Kafka: key, value, header values."""
    events: list[list[bytes | None]] = [
        [m.key.encode(), m.payload, *(v.encode() for v in m.headers.values())] for m in state.outbox
    ]
    parked = [[key, value, *(v for _, v in headers)] for _, key, value, headers in producer.sent]
    return events + parked


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(message=messages())
async def test_every_message_has_one_outcome_and_none_holds_a_secret(
    agent: Any, message: Generated
) -> None:
    started = time.monotonic()
    base = app.wiring
    state, hasher, producer = fresh(base)
    event = await agent.put(message.value, key=message.key, headers=message.headers, wait=False)

    async def acknowledged() -> bool:
        return bool(event.message.acked)

    await eventually(acknowledged, timeout=5, what=f"{message!r} acknowledged")
    app.provide(base)
    found = outcomes(state, producer)
    assert len(found) == 1, f"{len(found)} outcomes"
    assert producer.refused == 0  # nothing parked was over the producer's limit
    secrets = [message.password, message.password_hash, *(await_hashes(hasher))]
    for secret in secrets:
        assert leaks(secret, *found[0]) == [], secret
    for blob in found[0]:
        assert blob is None or not BCRYPT_HEAD.search(blob)
    RUN["examples"] += 1
    RUN["seconds"] += time.monotonic() - started


def await_hashes(hasher: FakeHasher) -> list[str]:
    # What the fake hasher made of a password: the stand-in for the stored hash.
    return ["$2b$04$" + p.encode().hex()[:53].ljust(53, "x") for p in hasher.calls]
