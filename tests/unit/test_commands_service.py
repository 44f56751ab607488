"""The CreateUser command use case, with fakes: outcomes, rejections, idempotency."""

from __future__ import annotations

import json
import uuid
from typing import Any

from tests.support.fakes import FakeState, fake_users_service
from users_service.domain.commands import CommandOutcome, parse_create_user
from users_service.service_layer.users import UsersService

PASSWORD = "s3cret-pass"


class Service:
    """The command use case, called as the agent calls it (`agents.commands`)."""

    def __init__(self, users: UsersService) -> None:
        self.users = users

    async def handle_create_user(self, body: dict[str, Any]) -> CommandOutcome:
        return await self.users.commands.handle(parse_create_user(body))


def service(state: FakeState) -> Service:
    return Service(fake_users_service(state, user_create_rejected_topic="user.create.rejected"))


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
    assert (outcome.result, outcome.duplicate) == ("created", False)
    [user] = state.users.values()
    assert outcome.user_id == user.id
    [event] = state.outbox
    payload = json.loads(event.payload)
    assert event.topic == "user.created"
    assert event.headers["commandId"] == cmd["commandId"]
    assert set(payload) == {"eventType", "eventId", "timestamp", "data"}
    assert state.commands[cmd["commandId"]].result == "created"


async def test_the_same_command_twice_creates_one_user_and_one_event() -> None:
    state = FakeState()
    svc, cmd = service(state), command()
    first = await svc.handle_create_user(cmd)
    second = await svc.handle_create_user(cmd)
    assert second.duplicate and (second.result, second.user_id) == ("created", first.user_id)
    assert len(state.users) == 1 and len(state.outbox) == 1


async def test_invalid_command_is_rejected_with_the_fields_and_no_password() -> None:
    state = FakeState()
    cmd = command(email="nope", password="short")
    outcome = await service(state).handle_create_user(cmd)
    assert (outcome.result, outcome.code) == ("rejected", "invalid")
    assert state.users == {}
    [event] = state.outbox
    payload = json.loads(event.payload)
    assert event.topic == "user.create.rejected" and event.key == cmd["commandId"]
    assert payload["reason"]["code"] == "invalid"
    assert set(payload["reason"]["fields"]) == {"email", "password"}
    assert payload["commandId"] == cmd["commandId"]
    assert PASSWORD not in event.payload.decode() and "short" not in event.payload.decode()


async def test_duplicate_email_is_rejected_as_such() -> None:
    state = FakeState()
    svc = service(state)
    await svc.handle_create_user(command())
    outcome = await svc.handle_create_user(command(email="ANA@example.com"))
    assert (outcome.result, outcome.code) == ("rejected", "duplicate_email")
    rejection = json.loads(state.outbox[-1].payload)
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
    fields = json.loads(state.outbox[0].payload)["reason"]["fields"]
    assert set(fields) == {"commandId", "requestedAt", "extra"}
    assert json.loads(state.outbox[0].payload)["commandId"] is None


async def test_command_without_id_is_rejected() -> None:
    state = FakeState()
    outcome = await service(state).handle_create_user(command(commandId=...))
    assert outcome.code == "invalid"
    assert json.loads(state.outbox[0].payload)["reason"]["fields"] == {"commandId": "is required"}


async def test_a_rejection_never_echoes_an_email_that_is_not_one() -> None:
    state = FakeState()
    outcome = await service(state).handle_create_user(command(email="Secret-Typed-Here"))
    assert outcome.code == "invalid"
    rejection = json.loads(state.outbox[0].payload)
    assert rejection["email"] is None
    assert "Secret-Typed-Here" not in state.outbox[0].payload.decode()


async def test_a_rejection_is_bounded_however_many_and_long_the_bad_fields() -> None:
    """A command may be up to COMMAND_MAX_BYTES (1 MiB at most): its rejection, which
    names the bad fields, stays small enough for any producer."""
    state = FakeState()
    many = {f"{n:05d}" + "k" * 200: 1 for n in range(4000)}
    outcome = await service(state).handle_create_user(command(**many, nombre="x" * 5000))
    assert (outcome.result, outcome.code) == ("rejected", "invalid")
    [event] = state.outbox
    assert len(event.payload) < 16 * 1024
    fields = json.loads(event.payload)["reason"]["fields"]
    assert "nombre" in fields  # a known field's problem comes first
    assert len(fields) <= 33 and all(len(name) <= 64 for name in fields)
    assert any("more" in problem for problem in fields.values())
