"""The register use case, with fakes for the database, bcrypt and the producer."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support.fakes import FakeDispatcher, FakeHasher, FakeState, fake_users_service
from users_service.domain.errors import EmailAlreadyRegistered, IdempotencyKeyReused, InvalidInput
from users_service.domain.model import User
from users_service.service_layer.registration import Idempotency, RegisterUser
from users_service.service_layer.users import UsersService
from web.requests import body_fingerprint

BODY = {"nombre": "Ana", "email": "Ana@Example.com", "password": "s3cret-pass"}


class Service:
    """The registration use case, called as the view calls it (`web.users`)."""

    def __init__(self, users: UsersService) -> None:
        self.users = users
        self.passwords = users.registration.passwords

    async def register(self, body: Mapping[str, Any], idempotency_key: str | None = None) -> User:
        idempotency = (
            Idempotency(idempotency_key, body_fingerprint(body)) if idempotency_key else None
        )
        return await self.users.registration.register(RegisterUser(body, idempotency))

    async def list_users(self, after: str | None, limit: int) -> tuple[list[User], str | None]:
        return await self.users.directory.list_users(after, limit)


def service(state: FakeState, dispatcher: FakeDispatcher, **options: Any) -> Service:
    return Service(fake_users_service(state, dispatcher, **options))


async def test_register_stores_user_and_event_and_dispatches_it() -> None:
    state, dispatcher = FakeState(), FakeDispatcher()
    user = await service(state, dispatcher).register(BODY)

    assert state.users[user.id].email == "ana@example.com"
    [event] = state.outbox
    assert dispatcher.dispatched == [event]
    assert event.key == user.id and event.topic == "user.created"
    payload = json.loads(event.payload)
    assert payload == {
        "eventType": "USER_CREATED",
        "eventId": event.event_id,
        "timestamp": payload["timestamp"],
        "data": user.public(),
    }
    assert event.headers == {"eventType": "USER_CREATED", "eventId": event.event_id}


async def test_event_and_public_view_never_carry_the_password_or_hash() -> None:
    state = FakeState()
    user = await service(state, FakeDispatcher()).register(BODY)
    serialized = state.outbox[0].payload.decode() + json.dumps(user.public())
    assert "s3cret-pass" not in serialized
    assert user.password_hash not in serialized
    assert "password" not in serialized


async def test_duplicate_email_is_rejected_case_insensitively_before_hashing() -> None:
    state = FakeState()
    svc = service(state, FakeDispatcher())
    await svc.register(BODY)
    with pytest.raises(EmailAlreadyRegistered):
        await svc.register({**BODY, "email": "ANA@example.COM"})
    assert len(state.users) == 1 and len(state.outbox) == 1
    assert isinstance(svc.passwords, FakeHasher) and len(svc.passwords.calls) == 1


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


async def test_a_retry_with_the_same_idempotency_key_returns_the_first_user() -> None:
    state = FakeState()
    svc = service(state, FakeDispatcher())
    first = await svc.register(BODY, idempotency_key="k1")
    again = await svc.register(dict(BODY), idempotency_key="k1")
    assert again == first
    assert len(state.users) == 1 and len(state.outbox) == 1


async def test_the_same_idempotency_key_with_another_body_is_refused() -> None:
    state = FakeState()
    svc = service(state, FakeDispatcher())
    await svc.register(BODY, idempotency_key="k1")
    with pytest.raises(IdempotencyKeyReused):
        await svc.register({**BODY, "nombre": "Otra"}, idempotency_key="k1")
    with pytest.raises(IdempotencyKeyReused):
        await svc.register({**BODY, "password": "another-pass"}, idempotency_key="k1")
    assert len(state.users) == 1


async def test_idempotency_keys_expire() -> None:
    state = FakeState()
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    svc = service(state, FakeDispatcher(), idempotency_ttl=60.0, clock=lambda: now[0])
    await svc.register(BODY, idempotency_key="k1")
    now[0] += timedelta(seconds=61)
    with pytest.raises(EmailAlreadyRegistered):  # no longer a replay: a new, conflicting request
        await svc.register(BODY, idempotency_key="k1")


async def test_the_idempotency_fingerprint_never_depends_on_a_fast_hash_of_the_password() -> None:
    assert body_fingerprint(BODY) == body_fingerprint({**BODY, "password": "other-password"})
    assert body_fingerprint(BODY) != body_fingerprint({**BODY, "email": "x@example.com"})


async def test_users_are_listed_by_id_in_pages() -> None:
    state = FakeState()
    svc = service(state, FakeDispatcher())
    for n in range(5):
        await svc.register({**BODY, "email": f"u{n}@example.com"})
    page, cursor = await svc.list_users(None, 2)
    ids = [u.id for u in page]
    seen = list(ids)
    while cursor is not None:
        page, cursor = await svc.list_users(cursor, 2)
        seen += [u.id for u in page]
    assert seen == sorted(state.users) and len(seen) == 5
