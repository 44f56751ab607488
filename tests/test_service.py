"""The register use case, with fakes for the database, bcrypt and the producer."""

from __future__ import annotations

import json

import pytest

from tests.fakes import FakeDispatcher, FakeHasher, FakeState, FakeUnitOfWork
from users.errors import EmailAlreadyRegistered, InvalidInput
from users.service import UsersService

BODY = {"nombre": "Ana", "email": "Ana@Example.com", "password": "s3cret-pass"}


def service(
    state: FakeState, dispatcher: FakeDispatcher, *, fail_outbox: bool = False
) -> UsersService:
    return UsersService(
        uow=lambda: FakeUnitOfWork(state, fail_outbox=fail_outbox),
        hash_password=FakeHasher(),
        events=dispatcher,
        user_created_topic="user.created",
    )


async def test_register_stores_user_and_event_and_dispatches_it() -> None:
    state, dispatcher = FakeState(), FakeDispatcher()
    user = await service(state, dispatcher).register(BODY)

    assert state.users[user.id].email == "ana@example.com"
    [(event, claimed_by)] = state.outbox
    assert claimed_by == "worker-1"
    assert dispatcher.dispatched == [event]
    assert event.key == user.id and event.topic == "user.created"
    assert event.payload == {
        "eventType": "USER_CREATED",
        "eventId": event.event_id,
        "timestamp": event.payload["timestamp"],
        "data": user.public(),
    }
    assert event.headers == {"eventType": "USER_CREATED", "eventId": event.event_id}


async def test_event_and_public_view_never_carry_the_password_or_hash() -> None:
    state = FakeState()
    user = await service(state, FakeDispatcher()).register(BODY)
    serialized = json.dumps([state.outbox[0][0].payload, user.public()])
    assert "s3cret-pass" not in serialized
    assert user.password_hash not in serialized
    assert "password" not in serialized


async def test_without_fast_path_the_event_waits_for_the_relay() -> None:
    state, dispatcher = FakeState(), FakeDispatcher(owner=None)
    await service(state, dispatcher).register(BODY)
    assert len(state.outbox) == 1 and state.outbox[0][1] is None
    assert dispatcher.dispatched == []


async def test_duplicate_email_is_rejected_case_insensitively_before_hashing() -> None:
    state = FakeState()
    svc = service(state, FakeDispatcher())
    await svc.register(BODY)
    with pytest.raises(EmailAlreadyRegistered):
        await svc.register({**BODY, "email": "ANA@example.COM"})
    assert len(state.users) == 1 and len(state.outbox) == 1
    assert isinstance(svc.hash_password, FakeHasher) and len(svc.hash_password.calls) == 1


async def test_invalid_input_writes_nothing() -> None:
    state = FakeState()
    with pytest.raises(InvalidInput):
        await service(state, FakeDispatcher()).register({**BODY, "email": "nope"})
    assert state.commits == 0


async def test_failing_outbox_insert_leaves_no_user() -> None:
    state, dispatcher = FakeState(), FakeDispatcher()
    with pytest.raises(RuntimeError):
        await service(state, dispatcher, fail_outbox=True).register(BODY)
    assert state.users == {} and state.outbox == [] and dispatcher.dispatched == []
