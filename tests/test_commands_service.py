"""The CreateUser command use case, with fakes: outcomes, rejections, idempotency."""

from __future__ import annotations

import json
import uuid
from typing import Any

from tests.fakes import FakeDispatcher, FakeHasher, FakeState, FakeUnitOfWork, FakeUsers
from users.service import UsersService

PASSWORD = "s3cret-pass"


def service(state: FakeState) -> UsersService:
    return UsersService(
        queries=FakeUsers({}, state),
        uow=lambda: FakeUnitOfWork(state),
        passwords=FakeHasher(),
        events=FakeDispatcher(),
        user_created_topic="user.created",
        user_create_rejected_topic="user.create.rejected",
    )


def command(**patch: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "commandId": str(uuid.uuid4()),
        "nombre": "Ana",
        "email": "Ana@Example.com",
        "password": PASSWORD,
        "requestedAt": "2026-11-28T10:00:00Z",
    }
    body.update(patch)
    return {k: v for k, v in body.items() if v is not ...}


async def test_valid_command_creates_the_user_and_an_event_with_the_command_id() -> None:
    state = FakeState()
    cmd = command()
    outcome = await service(state).handle_create_user(cmd)
    assert (outcome.outcome, outcome.duplicate) == ("created", False)
    [user] = state.users.values()
    assert outcome.user_id == user.id
    [(event, _)] = state.outbox
    assert event.topic == "user.created"
    assert event.headers["commandId"] == cmd["commandId"]
    assert set(event.payload) == {"eventType", "eventId", "timestamp", "data"}
    assert state.commands[cmd["commandId"]].outcome == "created"


async def test_the_same_command_twice_creates_one_user_and_one_event() -> None:
    state = FakeState()
    svc, cmd = service(state), command()
    first = await svc.handle_create_user(cmd)
    second = await svc.handle_create_user(cmd)
    assert second.duplicate and (second.outcome, second.user_id) == ("created", first.user_id)
    assert len(state.users) == 1 and len(state.outbox) == 1


async def test_invalid_command_is_rejected_with_the_fields_and_no_password() -> None:
    state = FakeState()
    cmd = command(email="nope", password="short")
    outcome = await service(state).handle_create_user(cmd)
    assert (outcome.outcome, outcome.code) == ("rejected", "invalid")
    assert state.users == {}
    [(event, _)] = state.outbox
    assert event.topic == "user.create.rejected" and event.key == cmd["commandId"]
    assert event.payload["reason"]["code"] == "invalid"
    assert set(event.payload["reason"]["fields"]) == {"email", "password"}
    assert event.payload["commandId"] == cmd["commandId"]
    assert PASSWORD not in json.dumps(event.payload) and "short" not in json.dumps(event.payload)


async def test_duplicate_email_is_rejected_as_such() -> None:
    state = FakeState()
    svc = service(state)
    await svc.handle_create_user(command())
    outcome = await svc.handle_create_user(command(email="ANA@example.com"))
    assert (outcome.outcome, outcome.code) == ("rejected", "duplicate_email")
    rejection = state.outbox[-1][0].payload
    assert rejection["reason"] == {"code": "duplicate_email"}
    assert rejection["email"] == "ana@example.com"


async def test_a_redelivered_rejected_command_is_not_rejected_twice() -> None:
    state = FakeState()
    svc, cmd = service(state), command(email="bad")
    await svc.handle_create_user(cmd)
    again = await svc.handle_create_user(cmd)
    assert again.duplicate and again.code == "invalid"
    assert len(state.outbox) == 1


async def test_envelope_problems_are_named() -> None:
    state = FakeState()
    outcome = await service(state).handle_create_user(
        command(commandId="not-a-uuid", requestedAt=5, extra=True)
    )
    assert outcome.command_id is None and outcome.code == "invalid"
    fields = state.outbox[0][0].payload["reason"]["fields"]
    assert set(fields) == {"commandId", "requestedAt", "extra"}
    assert state.outbox[0][0].payload["commandId"] is None


async def test_command_without_id_is_rejected() -> None:
    state = FakeState()
    outcome = await service(state).handle_create_user(command(commandId=...))
    assert outcome.code == "invalid"
    assert state.outbox[0][0].payload["reason"]["fields"] == {"commandId": "is required"}
