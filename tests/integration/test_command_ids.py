"""A command's id and hash are taken only in the one form the database stores: anything
else is a rejection naming the field, the same on SQLite and PostgreSQL (not a
`processing_error` on one backend and a stored value on the other)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import bcrypt
import pytest
import sqlalchemy as sa

from streamapp.wiring import Wiring
from users_service.adapters.storage import schema
from users_service.domain.commands import parse_create_user

ID = str(uuid.uuid4())
HASH = bcrypt.hashpw(b"correct-horse", bcrypt.gensalt(4)).decode()
NOT_CANONICAL = [
    "{" + ID + "}",  # .NET Guid.ToString("B")
    "urn:uuid:" + ID,
    "urn:uuid:urn:uuid:" + ID,
    "{urn:uuid:" + ID + "}",
    ID.replace("-", ""),  # "N": 32 digits, fits the column but is not the stored form
    ID.replace("-", "--"),
    " " + ID,
    ID + "\n",
]


def command(n: int, **patch: Any) -> dict[str, Any]:
    return {
        "commandId": str(uuid.uuid4()),
        "nombre": "Ana",
        "email": f"ana{n}@example.com",
        "password": "correct-horse",
        **patch,
    }


async def stored_command_ids(wiring: Wiring) -> list[str]:
    rows = await wiring.database.fetch_all(sa.select(schema.processed_commands.c.command_id))
    return [row[0] for row in rows]


@pytest.mark.parametrize("command_id", NOT_CANONICAL)
async def test_a_command_id_not_in_its_36_character_form_is_rejected_by_name(
    wiring: Wiring, command_id: str
) -> None:
    outcome = await wiring.users.commands.handle(
        parse_create_user(command(1, commandId=command_id))
    )
    assert (outcome.result, outcome.code, outcome.command_id) == ("rejected", "invalid", None)
    assert await stored_command_ids(wiring) == []
    [event] = [
        json.loads(row[0])
        for row in await wiring.database.fetch_all(sa.select(schema.outbox.c.payload))
    ]
    assert event["eventType"] == "USER_CREATE_REJECTED"
    assert "commandId" in event["reason"]["fields"]
    assert "36" in event["reason"]["fields"]["commandId"]


async def test_the_canonical_form_in_either_case_is_taken_and_stored_as_sent(
    wiring: Wiring,
) -> None:
    upper = str(uuid.uuid4()).upper()
    for n, command_id in enumerate([ID, upper]):
        outcome = await wiring.users.commands.handle(
            parse_create_user(command(n, commandId=command_id))
        )
        assert (outcome.result, outcome.command_id) == ("created", command_id)
    assert sorted(await stored_command_ids(wiring)) == sorted([ID, upper])


async def test_a_password_hash_with_a_trailing_newline_is_rejected_by_name(
    wiring: Wiring,
) -> None:
    body = {**command(1), "passwordHash": HASH + "\n"}
    del body["password"]
    outcome = await wiring.users.commands.handle(parse_create_user(body))
    assert (outcome.result, outcome.code) == ("rejected", "invalid")
    [payload] = [
        row[0] for row in await wiring.database.fetch_all(sa.select(schema.outbox.c.payload))
    ]
    assert "passwordHash" in json.loads(payload)["reason"]["fields"]
    assert HASH not in payload
    users = await wiring.database.fetch_all(sa.select(schema.users.c.id))
    assert users == []
