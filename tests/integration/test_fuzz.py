"""Generated requests against the OpenAPI document: no 5xx, every answer documented.

Hypothesis drives the aiohttp test client in-process on PostgreSQL; bodies come from the
document's own request schema and from arbitrary JSON and bytes. (hypothesis-jsonschema
0.23 fails against current Hypothesis, and the request schema is simple enough to derive a
strategy from here.)
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.test_api_contract import conforms
from users_service import contracts

OPENAPI = contracts.load("openapi")
URL = "/users/v1/users"
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values of an object-of-strings schema, like the request body's."""
    if schema.get("type") == "object":
        properties = {name: from_schema(sub) for name, sub in schema["properties"].items()}
        required = set(schema.get("required", []))
        return st.fixed_dictionaries(
            {k: v for k, v in properties.items() if k in required},
            optional={k: v for k, v in properties.items() if k not in required},
        )
    assert schema.get("type") == "string", schema
    if schema.get("format") == "email":
        return st.emails().filter(lambda e: len(e) <= schema.get("maxLength", 254))
    return st.text(min_size=schema.get("minLength", 0), max_size=schema.get("maxLength", 80))


request_schema = OPENAPI["components"]["schemas"]["CreateUserRequest"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
# Strings with lone surrogates: valid JSON (as \\udXXX escapes), unencodable as UTF-8.
surrogate_text = st.text(
    alphabet=st.characters(categories=["Cs"]) | st.characters(codec="ascii"), min_size=1
)
# Numbers past int()'s 4,300-digit limit, as raw JSON text and as query values.
huge_digits = st.integers(min_value=4290, max_value=6000).map(lambda n: "9" * n)
huge_number_bodies = huge_digits.map(
    lambda digits: f'{{"nombre": {digits}, "email": "a@b.io", "password": "12345678"}}'.encode()
)

near_valid = st.fixed_dictionaries(
    {
        "nombre": st.text(max_size=120) | surrogate_text,
        "email": st.emails() | st.text(max_size=40) | surrogate_text,
        "password": st.text(max_size=80) | surrogate_text,
    },
    optional={"extra": json_values},
)


@pytest.fixture
def database_url(postgres_url: str) -> str:
    """Fuzzing runs on PostgreSQL only: one database is enough to find 5xx answers."""
    return postgres_url


async def post_and_check(client: TestClient[Any, Any], data: bytes, content_type: str) -> int:
    resp = await client.post(URL, data=data, headers={"Content-Type": content_type})
    assert resp.status < 500, await resp.text()
    conforms(URL, "post", resp.status, await resp.json())
    return resp.status


@FUZZ
@given(body=from_schema(request_schema) | near_valid | json_values)
async def test_generated_bodies(client: TestClient[Any, Any], body: Any) -> None:
    await post_and_check(client, json.dumps(body).encode(), "application/json")


@FUZZ
@given(
    data=st.binary(max_size=300) | huge_number_bodies,
    content_type=st.sampled_from(
        ["application/json", "text/plain", "application/problem+json", ""]
    ),
)
async def test_generated_bytes(
    client: TestClient[Any, Any], data: bytes, content_type: str
) -> None:
    await post_and_check(client, data, content_type)


@FUZZ
@given(
    user_id=st.text(min_size=1, max_size=60).filter(
        lambda s: "/" not in s and "?" not in s and "#" not in s
    ),
    limit=st.none() | st.text(max_size=6) | huge_digits,
    cursor=st.none() | st.text(max_size=40),
)
async def test_generated_reads(
    client: TestClient[Any, Any], user_id: str, limit: str | None, cursor: str | None
) -> None:
    resp = await client.get(f"{URL}/{user_id}")
    assert resp.status < 500
    conforms("/users/v1/users/{userId}", "get", resp.status, await resp.json())
    params = {k: v for k, v in {"limit": limit, "cursor": cursor}.items() if v is not None}
    resp = await client.get(URL, params=params)
    assert resp.status < 500
    conforms(URL, "get", resp.status, await resp.json())
