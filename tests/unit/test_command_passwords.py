"""A CreateUser may carry a producer's bcrypt hash instead of the password; plaintext can
be refused; a parked command keeps neither; a rejection echoes only a valid email."""

from __future__ import annotations

import json

import bcrypt
import pytest

from users_service.domain.errors import InvalidInput
from users_service.domain.parking import NOT_JSON, Parkable, parkable_value
from users_service.domain.validation import validate_command_registration

GOOD = {"nombre": "Ana", "email": "ana@example.com"}
HASH_12 = bcrypt.hashpw(b"correct-horse", bcrypt.gensalt(12)).decode()
HASH_4 = bcrypt.hashpw(b"correct-horse", bcrypt.gensalt(4)).decode()


def problems(
    body: dict[str, object], *, plaintext: bool = True, rounds: int = 12
) -> dict[str, str]:
    with pytest.raises(InvalidInput) as caught:
        validate_command_registration(body, accept_plaintext=plaintext, min_rounds=rounds)
    return caught.value.fields


def test_a_hash_of_enough_cost_is_taken_as_it_is() -> None:
    registration = validate_command_registration(
        {**GOOD, "passwordHash": HASH_12}, accept_plaintext=False, min_rounds=12
    )
    assert (registration.password, registration.password_hash) == (None, HASH_12)


def test_a_cheap_or_malformed_hash_or_both_fields_are_refused_by_name() -> None:
    assert "at least 12" in problems({**GOOD, "passwordHash": HASH_4})["passwordHash"]
    assert "bcrypt" in problems({**GOOD, "passwordHash": "md5:abc"})["passwordHash"]
    both = problems({**GOOD, "passwordHash": HASH_12, "password": "correct-horse"})
    assert "not both" in both["password"]


def test_plaintext_is_refused_when_the_setting_says_so() -> None:
    refused = problems({**GOOD, "password": "correct-horse"}, plaintext=False)
    assert "passwordHash" in refused["password"]
    accepted = validate_command_registration(
        {**GOOD, "password": "correct-horse"}, accept_plaintext=True, min_rounds=12
    )
    assert accepted.password == "correct-horse"


def test_a_parked_value_keeps_no_password_and_no_hash() -> None:
    parked = parkable_value(
        json.dumps({"commandId": "c", "password": "p", "passwordHash": HASH_12}).encode()
    )
    assert parked.note and parked.value is not None
    assert json.loads(parked.value) == {
        "commandId": "c",
        "password": "<1 characters>",
        "passwordHash": "<60 characters>",
    }
    assert parkable_value(b"not json, but password=p") == Parkable(None, NOT_JSON)
    assert parkable_value(b"[1, 2]") == Parkable(b"[1, 2]", None)
