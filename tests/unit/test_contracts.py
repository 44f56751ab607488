"""One contract: each message's definition in the events package makes its Records (which
`models/` re-exports) and its schemas; the AsyncAPI document, the verifier's expectations
and the command envelope are held to them, so drift fails here."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import faust
import jsonschema
import pytest
from users_service_events import schemas
from users_service_events.envelope import MESSAGES

from models.commands import CreateUser
from models.events import (
    USER_CREATED_SHAPE,
    RecordEncoder,
    UserCreated,
    UserCreatedData,
    UserCreateRejected,
    UserDeleted,
    UserDeletedData,
    field_names,
)
from users_service import contracts
from users_service.domain.commands import COMMAND_FIELDS
from users_service.domain.model import (
    USER_CREATE_REJECTED,
    USER_CREATED,
    Rejection,
    User,
    new_id,
)
from users_service.domain.validation import FIELDS as REGISTRATION_FIELDS

ASYNCAPI = contracts.load("asyncapi")
SCHEMAS = ASYNCAPI["components"]["schemas"]


def required(record: type[faust.Record]) -> set[str]:
    return set(field_names(record)) - set(record._options.defaults)


@pytest.mark.parametrize(
    ("schema", "record"),
    [
        (SCHEMAS["UserCreated"], UserCreated),
        (SCHEMAS["UserCreated"]["properties"]["data"], UserCreatedData),
        (SCHEMAS["UserCreateRejected"], UserCreateRejected),
        (SCHEMAS["UserDeleted"], UserDeleted),
        (SCHEMAS["UserDeleted"]["properties"]["data"], UserDeletedData),
    ],
)
def test_each_event_schema_has_exactly_the_records_fields_all_present(
    schema: dict[str, Any], record: type[faust.Record]
) -> None:
    # An event always carries every field (a default is serialized too). Open: a later
    # version may add an optional field, which a reader on this one must accept.
    assert set(schema["properties"]) == field_names(record)
    assert set(schema["required"]) == field_names(record)
    assert schema.get("additionalProperties", True) is True


@pytest.mark.parametrize(
    ("name", "component"),
    [
        ("user.created", "UserCreated"),
        ("user.create.rejected", "UserCreateRejected"),
        ("user.create", "CreateUser"),
        ("user.deleted", "UserDeleted"),
        ("user.erase", "EraseUser"),
    ],
)
def test_the_document_serves_the_events_packages_schemas(name: str, component: str) -> None:
    packaged = {k: v for k, v in schemas.load(name).items() if k not in {"$schema", "$id", "title"}}
    assert SCHEMAS[component] == packaged
    assert schemas.load(name)["$id"] == MESSAGES[name].dataschema


def test_a_record_reads_a_value_with_a_field_it_does_not_declare() -> None:
    # What a consumer on this version does with a later version's event.
    user = User(new_id(), "Ana", "ana@example.com", datetime.now(UTC), "$2b$04$" + "h" * 53)
    value = json.loads(RecordEncoder().user_created(user, event_id=new_id(), at=datetime.now(UTC)))
    value["locale"] = "es"
    value["data"]["locale"] = "es"
    read = UserCreated.loads(json.dumps(value).encode())
    assert read.data.email == "ana@example.com" and read.eventId == value["eventId"]


def test_the_command_schema_has_the_records_fields_and_its_required_ones() -> None:
    schema = SCHEMAS["CreateUser"]
    assert set(schema["properties"]) == field_names(CreateUser)
    assert set(schema["required"]) == required(CreateUser)


def test_the_command_envelope_and_registration_make_up_the_command_record() -> None:
    # The registration's fields, with a producer's bcrypt hash as the alternative password.
    assert COMMAND_FIELDS | set(REGISTRATION_FIELDS) | {"passwordHash"} == field_names(CreateUser)
    assert required(CreateUser) == {"commandId", "nombre", "email"}


def test_the_verifier_expects_what_the_record_defines() -> None:
    assert USER_CREATED_SHAPE.event_type == USER_CREATED
    assert USER_CREATED_SHAPE.fields == field_names(UserCreated)
    assert USER_CREATED_SHAPE.data_fields == field_names(UserCreatedData)


def test_encoded_events_validate_against_the_document() -> None:
    for schema_ in SCHEMAS.values():
        jsonschema.Draft202012Validator.check_schema(schema_)
    user = User(new_id(), "José", "jose@example.com", datetime.now(UTC), "$2b$04$" + "h" * 53)
    at = datetime.now(UTC)
    created = json.loads(RecordEncoder().user_created(user, event_id=new_id(), at=at))
    rejected = json.loads(
        RecordEncoder().user_create_rejected(Rejection(new_id(), at, None, "invalid"))
    )
    assert created["eventType"] == USER_CREATED and rejected["eventType"] == USER_CREATE_REJECTED
    assert "h" * 53 not in json.dumps(created)
    for value, name in ((created, "UserCreated"), (rejected, "UserCreateRejected")):
        pointer = f"#/components/schemas/{name}"
        jsonschema.validate(value, contracts.schema_ref(ASYNCAPI, pointer))
        with pytest.raises(jsonschema.ValidationError):  # the schema really constrains
            jsonschema.validate({**value, "eventId": 7}, contracts.schema_ref(ASYNCAPI, pointer))
