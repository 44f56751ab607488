"""The OpenAPI document says exactly what the service accepts (issue 26, case 11): for any
string, a field's value or a cursor is valid in the document if and only if the service
takes it. The document is judged the way third-party tools judge it: jsonschema's
Draft 2020-12 validator, Python's `re` for its patterns.

Two rules are stated in words, not in JSON Schema: a password's 72 bytes of UTF-8
(maxLength counts characters; the document bounds them at 72), and the refusal of lone
surrogates, which only a JSON escape can write and most tools cannot hold. The
properties below hold everything else exactly.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
import uuid
from typing import Any

import jsonschema
import jsonschema_rs
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from users_service import contracts
from users_service.domain.errors import InvalidInput
from users_service.domain.validation import (
    NOMBRE_FORBIDDEN,
    NOMBRE_SPACES,
    PASSWORD_MAX_BYTES,
    character_class,
    validate_registration,
)
from web.requests import decode_cursor, encode_cursor

pytestmark = pytest.mark.property

OPENAPI = contracts.load("openapi")
REQUEST = "#/components/schemas/CreateUserRequest"
GOOD = {"nombre": "Ana", "email": "ana@example.com", "password": "s3cret-pass"}


def validator(pointer: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(
        contracts.schema_ref(OPENAPI, pointer),
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )


FIELD = {name: validator(f"{REQUEST}/properties/{name}") for name in GOOD}
CURSOR_SCHEMA = next(
    p["schema"]
    for p in OPENAPI["paths"]["/users/v1/users"]["get"]["parameters"]
    if p["name"] == "cursor"
)
CURSOR = jsonschema.Draft202012Validator(CURSOR_SCHEMA)


# Pure functions, a few milliseconds an example: eight times the profile's count.
CHEAP = settings(max_examples=8 * settings().max_examples)


def has_surrogate(value: str) -> bool:
    return any("\ud800" <= ch <= "\udfff" for ch in value)


def document_takes(name: str, value: str) -> bool:
    """The document's verdict. A lone surrogate is refused in words, not by a pattern
    (see character_class): the one other rule the patterns leave to the description."""
    return FIELD[name].is_valid(value) and not has_surrogate(value)


def service_refuses(name: str, value: str) -> str | None:
    try:
        validate_registration({**GOOD, name: value})
    except InvalidInput as exc:
        return exc.fields.get(name)
    return None


# Every code point, lone surrogates included (JSON can escape them), weighted towards the
# characters the rules are about: spaces, controls, format characters, the edges.
edge_characters = st.sampled_from(
    [chr(lo) for lo, _ in NOMBRE_FORBIDDEN]
    + [chr(hi) for _, hi in NOMBRE_FORBIDDEN]
    + [chr(lo - 1) for lo, _ in NOMBRE_FORBIDDEN if lo > 0]
    + [chr(hi + 1) for _, hi in NOMBRE_FORBIDDEN if hi < 0x10FFFF]
    + [chr(lo) for lo, _ in NOMBRE_SPACES]
    + ["\t", "\n", "\v", "\r", "\x1c", "\x85", "@", ".", "-", "é", "山"]
)
any_character = st.characters(codec=None, categories=None) | edge_characters
any_text = st.text(alphabet=any_character, max_size=110) | st.text(
    alphabet=edge_characters | st.characters(codec="ascii"), min_size=95, max_size=110
)
emailish = st.builds(
    lambda pre, email, post: pre + email + post,
    st.text(alphabet=edge_characters, max_size=3),
    st.emails() | st.text(alphabet=st.characters(codec="ascii"), max_size=30),
    st.text(alphabet=edge_characters, max_size=3),
)


@CHEAP
@given(value=any_text)
@example("\v" + "x" * 100)
@example("\ufffe")
def test_a_nombre_is_valid_in_the_document_exactly_when_the_service_takes_it(value: str) -> None:
    problem = service_refuses("nombre", value)
    assert document_takes("nombre", value) == (problem is None), (value, problem)


@CHEAP
@given(value=any_text | emailish)
@example(" Ana@Example.COM\n")
def test_an_email_is_valid_in_the_document_exactly_when_the_service_takes_it(value: str) -> None:
    problem = service_refuses("email", value)
    assert document_takes("email", value) == (problem is None), (value, problem)


@CHEAP
@given(value=any_text | st.text(max_size=80))
@example("12345678\x00")
@example("1234567\ud800")
@example("é" * 37)
def test_a_password_is_valid_in_the_document_exactly_when_the_service_takes_it(
    value: str,
) -> None:
    problem = service_refuses("password", value)
    # The one rule JSON Schema cannot state: bytes, not characters.
    within_bytes = len(value.encode("utf-8", "surrogatepass")) <= PASSWORD_MAX_BYTES
    assert (document_takes("password", value) and within_bytes) == (problem is None), (
        value,
        problem,
    )


@CHEAP
@given(cursor=any_text | st.text(alphabet="ABCQgw-_xyz09", max_size=24))
def test_a_cursor_is_valid_in_the_document_exactly_when_the_service_takes_it(
    cursor: str,
) -> None:
    try:
        decode_cursor(cursor)
        taken = True
    except ValueError:
        taken = False
    assert CURSOR.is_valid(cursor) == taken, cursor


@CHEAP
@given(user_id=st.uuids())
def test_every_cursor_the_service_hands_out_is_valid_and_names_its_user(
    user_id: uuid.UUID,
) -> None:
    cursor = encode_cursor(str(user_id))
    assert CURSOR.is_valid(cursor)
    assert decode_cursor(cursor) == str(user_id)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("nombre", "\v" + "x" * 100),  # schemathesis' find: trimmed to 100 and taken
        ("nombre", " " + "x" * 100),
        ("nombre", "\tAna"),
        ("email", " " * 250 + "a@b.io"),
    ],
)
def test_a_value_longer_than_the_document_allows_is_refused_before_trimming(
    name: str, value: str
) -> None:
    assert not FIELD[name].is_valid(value)
    assert service_refuses(name, value) is not None


def test_the_cursor_the_fuzzer_sent_is_invalid_in_the_document_too() -> None:
    assert not CURSOR.is_valid("\x12")  # GET /users/v1/users?cursor=%12 answered 422


def test_the_documents_character_rules_are_the_services_tables() -> None:
    nombre: dict[str, Any] = OPENAPI["components"]["schemas"]["CreateUserRequest"]["properties"][
        "nombre"
    ]
    assert nombre["not"]["pattern"] == character_class(NOMBRE_FORBIDDEN)
    assert nombre["pattern"] == character_class(NOMBRE_SPACES, negated=True)


def document_patterns(node: Any) -> list[str]:
    """Every `pattern` in the document, wherever it is."""
    if isinstance(node, dict):
        found = [node["pattern"]] if isinstance(node.get("pattern"), str) else []
        return found + [p for value in node.values() for p in document_patterns(value)]
    if isinstance(node, list):
        return [p for value in node for p in document_patterns(value)]
    return []


def sample_strings(count: int, seed: int = 26) -> list[str]:
    """Strings over the edge characters, ASCII and anything else, some email-shaped."""
    rng = random.Random(seed)
    edges = [chr(lo) for lo, _ in (*NOMBRE_FORBIDDEN, *NOMBRE_SPACES)] + list("\t\n\v@.-é山")
    edges += [chr(hi) for _, hi in NOMBRE_FORBIDDEN] + ["\ud800", "\U000110bd", "\U0010fffd"]

    def char() -> str:
        roll = rng.random()
        if roll < 0.4:
            return rng.choice(edges)
        return chr(rng.randrange(32, 127)) if roll < 0.8 else chr(rng.randrange(0x110000))

    out = []
    for n in range(count):
        text = "".join(char() for _ in range(rng.randrange(0, 30)))
        out.append(f"{text[:3]}a.b@ex-1.io{text[3:5]}" if n % 3 == 0 else text)
    return out


def test_ecma_262_reads_every_pattern_of_the_document_as_python_does() -> None:
    if shutil.which("node") is None:  # ops/test-tools.sh installs it; never skipped
        pytest.fail("Node.js is needed to read the patterns as ECMA-262 does: ops/test-tools.sh")
    samples = sample_strings(2000)
    # JSON Schema's patterns are ECMA-262, compiled with the u flag by validators such as
    # Ajv; Python tools (jsonschema, Hypothesis, schemathesis) read them with `re`.
    patterns = sorted(set(document_patterns(OPENAPI)))
    samples += ["a@b.io\n", "key\n", "\ud800", "x\U000110bd", ""]
    script = (
        "const [ps, ss] = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "console.log(JSON.stringify(ps.map(p => ss.map(s => new RegExp(p, 'u').test(s)))));"
    )
    answer = subprocess.run(
        ["node", "-e", script],
        input=json.dumps([patterns, samples]),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    ecma = json.loads(answer.stdout)
    for pattern, verdicts in zip(patterns, ecma, strict=True):
        python = [re.search(pattern, s) is not None for s in samples]
        differ = [s for s, a, b in zip(samples, verdicts, python, strict=True) if a != b]
        assert not differ, (pattern[:60], differ[:5])


# A second reader, stricter: jsonschema-rs (schemathesis' validator), which asserts
# formats and compiles patterns with its own engine. Its `format: email` (RFC 5321) is
# not the service's rule (the WHATWG shape, trimmed): it refuses "a..b@x.io" and any
# whitespace, which the service takes, so the document states the rule as a pattern.
STRICT = {
    name: jsonschema_rs.validator_for(
        contracts.schema_ref(OPENAPI, f"{REQUEST}/properties/{name}"), validate_formats=True
    )
    for name in GOOD
}


@CHEAP
@given(name=st.sampled_from(sorted(GOOD)), value=any_text | emailish)
@example(name="email", value="a..b@x.io")
@example(name="email", value="\va@b.io")
def test_a_strict_reader_of_the_document_agrees_with_the_service(name: str, value: str) -> None:
    if has_surrogate(value):
        return  # jsonschema-rs cannot hold a lone surrogate (see character_class)
    problem = service_refuses(name, value)
    within_bytes = name != "password" or len(value.encode("utf-8")) <= PASSWORD_MAX_BYTES
    assert (STRICT[name].is_valid(value) and within_bytes) == (problem is None), (
        name,
        value,
        problem,
    )


def test_the_stored_email_of_a_user_is_what_the_document_says_a_user_holds() -> None:
    user = jsonschema_rs.validator_for(
        contracts.schema_ref(OPENAPI, "#/components/schemas/User"), validate_formats=True
    )
    stored = validate_registration({**GOOD, "email": " A..B+x@Example.IO\t"}).email
    record = {
        "id": str(uuid.uuid4()),
        "nombre": "A",
        "email": stored,
        "createdAt": "2026-12-03T12:00:00Z",
    }
    assert user.is_valid(record), stored
