"""Registration rules: every bad field is named, good input is normalized."""

from __future__ import annotations

from typing import Any

import pytest

from users_service.domain.errors import InvalidInput
from users_service.domain.validation import validate_registration

GOOD = {"nombre": "Ana", "email": "ana@example.com", "password": "s3cret-pass"}


def fields_of(body: Any) -> dict[str, str]:
    with pytest.raises(InvalidInput) as caught:
        validate_registration(body)
    return caught.value.fields


def test_valid_input_is_trimmed_and_email_lowercased() -> None:
    reg = validate_registration({**GOOD, "nombre": "  Ana  ", "email": " Ana@Example.COM "})
    assert (reg.nombre, reg.email) == ("Ana", "ana@example.com")


@pytest.mark.parametrize(
    ("patch", "field", "fragment"),
    [
        ({"nombre": ""}, "nombre", "empty"),
        ({"nombre": "   "}, "nombre", "empty"),
        ({"nombre": "x" * 101}, "nombre", "at most 100"),
        ({"nombre": "An\x00a"}, "nombre", "control"),
        ({"nombre": 5}, "nombre", "string"),
        ({"email": "not-an-email"}, "email", "valid email"),
        ({"email": "a@b"}, "email", "valid email"),
        ({"email": "a b@example.com"}, "email", "valid email"),
        ({"email": None}, "email", "string"),
        ({"password": "short"}, "password", "at least 8"),
        ({"password": "ñ" * 37}, "password", "72 bytes"),
        ({"password": ["list"]}, "password", "string"),
        # Lone surrogates (a JSON "\ud800" escape) cannot be encoded: refused by name.
        ({"password": "abcdefg\ud800"}, "password", "Unicode"),
        ({"email": "ana\udfff@example.com"}, "email", "ASCII"),
        ({"nombre": "An\ud800a"}, "nombre", "control"),
    ],
)
def test_invalid_field_is_named(patch: dict[str, Any], field: str, fragment: str) -> None:
    fields = fields_of({**GOOD, **patch})
    assert list(fields) == [field]
    assert fragment in fields[field]


def test_missing_and_unknown_fields_are_all_reported() -> None:
    fields = fields_of({"nombre": "Ana", "role": "admin"})
    assert fields == {
        "role": "unknown field",
        "email": "is required",
        "password": "is required",
    }


def test_password_of_exactly_72_bytes_is_accepted() -> None:
    assert validate_registration({**GOOD, "password": "ñ" * 36}).password == "ñ" * 36


def test_body_that_is_not_an_object_is_rejected() -> None:
    assert fields_of(["nombre"]) == {"body": "must be a JSON object"}


def test_repr_hides_the_password() -> None:
    assert "s3cret-pass" not in repr(validate_registration(GOOD))
