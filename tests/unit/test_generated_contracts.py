"""Each message is defined once (users_service_events.envelope, .values): its current JSON
Schema, the AsyncAPI document's message parts, its Records, its key and headers and the
public view of a user are made from that definition, and the committed files are what the
generator makes of it (`python -m users_service.contracts.generate`)."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

import faust
import pytest
from users_service_events import envelope, schemas, values
from users_service_events.envelope import MESSAGES
from users_service_events.values import Field

from models.commands import EraseUser
from models.events import (
    RecordEncoder,
    UserCreated,
    UserCreatedData,
    UserCreateRejected,
    UserDeleted,
    UserDeletedData,
)
from models.events import field_names as record_fields
from users_service import contracts
from users_service.contracts import generate
from users_service.domain.model import Rejection, User, new_id, user_create_rejected, user_created


def test_every_committed_generated_file_is_what_the_definitions_make() -> None:
    stale = [p.name for p, text in generate.generated().items() if p.read_text() != text]
    assert stale == [], f"run: python -m users_service.contracts.generate ({stale})"


def test_a_field_added_to_a_definition_makes_the_committed_files_stale(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    message = MESSAGES["user.created"]
    data = dataclasses.replace(
        values.USER, fields=(*values.USER.fields, Field("locale", {"type": "string"}, "str"))
    )
    fields = tuple(
        dataclasses.replace(f, schema=data) if f.name == "data" else f for f in message.value.fields
    )
    changed = dataclasses.replace(message, value=dataclasses.replace(message.value, fields=fields))
    monkeypatch.setitem(MESSAGES, "user.created", changed)
    assert schemas.generate("user.created") != schemas.load("user.created")
    document = generate.asyncapi(contracts.load("asyncapi"))
    locale = document["components"]["schemas"]["UserCreated"]["properties"]["data"]["properties"]
    assert "locale" in locale
    assert document != contracts.load("asyncapi")


@pytest.mark.parametrize(
    ("shape", "record"),
    [
        (values.USER, UserCreatedData),
        (values.USER_CREATED, UserCreated),
        (values.USER_CREATE_REJECTED, UserCreateRejected),
        (values.ERASED_USER, UserDeletedData),
        (values.USER_DELETED, UserDeleted),
        (values.ERASE_USER, EraseUser),
    ],
)
def test_each_record_declares_its_definitions_fields_in_wire_order(
    shape: values.Shape, record: type[faust.Record]
) -> None:
    assert tuple(record._options.fields) == shape.names
    assert record_fields(record) == frozenset(shape.names)


def test_the_public_view_of_a_user_is_the_definitions_four_fields() -> None:
    at = datetime(2026, 12, 3, 12, 0, 0, 123000, tzinfo=UTC)
    user = User(new_id(), "Ana", "ana@example.com", at, "$2b$04$" + "h" * 53)
    assert tuple(user.public()) == values.USER.names == ("id", "nombre", "email", "createdAt")
    assert user.public() == {
        "id": user.id,
        "nombre": "Ana",
        "email": "ana@example.com",
        "createdAt": "2026-12-03T12:00:00.123Z",
    }
    event = json.loads(RecordEncoder().user_created(user, event_id=new_id(), at=at))
    assert event["data"] == user.public()


def test_each_events_key_and_headers_are_its_definitions() -> None:
    at = datetime.now(UTC)
    user = User(new_id(), "Ana", "ana@example.com", at, "$2b$04$" + "h" * 53)
    event_id, command_id = new_id(), new_id()
    payload = RecordEncoder().user_created(user, event_id=event_id, at=at)
    created = user_created(
        user, topic="t", event_id=event_id, at=at, payload=payload, command_id=command_id
    )
    assert created.key == envelope.USER_CREATED_MESSAGE.key_of(json.loads(payload)) == user.id
    assert created.headers == {
        "eventType": "USER_CREATED",
        "eventId": event_id,
        "commandId": command_id,
    }
    for command in (command_id, None):
        rejection = Rejection(new_id(), at, command, "invalid")
        payload = RecordEncoder().user_create_rejected(rejection)
        rejected = user_create_rejected(
            topic="t", event_id=rejection.event_id, at=at, payload=payload, command_id=command
        )
        assert rejected.key == envelope.USER_CREATE_REJECTED_MESSAGE.key_of(json.loads(payload))
        assert rejected.key == (command or rejection.event_id)
        assert rejected.headers == envelope.USER_CREATE_REJECTED_MESSAGE.headers(
            rejection.event_id, command
        )


def test_a_field_added_to_a_definition_makes_the_committed_records_stale(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    locale = Field("locale", {"type": "string"}, "Optional[str]", optional=True)
    before = generate.records_source()
    user = dataclasses.replace(values.USER, fields=(*values.USER.fields, locale))
    monkeypatch.setattr(values, "SHAPES", (user, *values.SHAPES[1:]))
    source = generate.records_source()
    assert source != before
    assert "    locale: Optional[str] = None  # noqa: UP045" in source


def test_the_http_apis_user_has_the_definitions_four_fields() -> None:
    # The HTTP document is written by hand (it says more of each field than an event's
    # schema): its user holds the same fields, all of them always.
    user = contracts.load("openapi")["components"]["schemas"]["User"]
    assert tuple(user["properties"]) == values.USER.names
    assert tuple(user["required"]) == values.USER.required
