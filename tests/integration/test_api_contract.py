"""Read API, Idempotency-Key, hostile input, the OpenAPI document and concurrency, over
both real databases through Faust's aiohttp app (no Kafka)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema
import pytest
import sqlalchemy as sa
from openapi_spec_validator import validate

from streamapp.app import app
from streamapp.wiring import Wiring
from tests.support.web import Client, ClientFactory, start_app, stop_app, web_client
from users_service import contracts
from users_service.adapters.storage import schema
from users_service.service_layer.users import UsersService

URL = "/users/v1/users"
PASSWORD = "Distinctive-Pa55word-31"
BODY = {"nombre": "Ana", "email": "ana@example.com", "password": PASSWORD}
OPENAPI = contracts.load("openapi")


@pytest.fixture
def app_settings() -> dict[str, Any]:
    """A small body limit, so the 413 cases stay small; a hashing queue deep enough for
    the bursts here (shedding has its own test, test_overload)."""
    return {"http": {"max_body_bytes": 4096}, "auth": {"hash_queue": 64}}


async def count(c: Wiring, table: sa.Table) -> int:
    return int(await c.database.fetch_val(sa.select(sa.func.count()).select_from(table)))


def conforms(path: str, method: str, status: int, body: Any) -> None:
    """The answer is one the OpenAPI document lists, with a body of the documented schema."""
    responses = OPENAPI["paths"][path][method]["responses"]
    assert str(status) in responses, f"{method.upper()} {path} answered an undocumented {status}"
    response = responses[str(status)]
    if "$ref" in response:
        response = OPENAPI["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    schema_ = response["content"]["application/json"]["schema"]
    jsonschema.validate(
        body,
        {**schema_, "components": OPENAPI["components"]},
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )


# -- read API ------------------------------------------------------------------------


async def test_a_created_user_can_be_read_back(client: Client) -> None:
    created = await (await client.post(URL, json=BODY)).json()
    resp = await client.get(f"{URL}/{created['id']}")
    assert resp.status == 200
    body = await resp.json()
    assert body == created
    conforms("/users/v1/users/{userId}", "get", 200, body)


@pytest.mark.parametrize(
    "user_id",
    [
        "01a22402-7e48-7229-90d2-cd02298c581e",
        "not-a-uuid",
        "'; DROP TABLE users; --",
        "%00",
        "x" * 500,
    ],
)
async def test_unknown_or_malformed_ids_are_404(client: Client, user_id: str) -> None:
    resp = await client.get(f"{URL}/{user_id}")
    assert resp.status == 404
    conforms("/users/v1/users/{userId}", "get", 404, await resp.json())


async def test_users_are_listed_in_pages_until_the_cursor_runs_out(client: Client) -> None:
    created = [
        (await (await client.post(URL, json={**BODY, "email": f"p{n}@example.com"})).json())["id"]
        for n in range(7)
    ]
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        resp = await client.get(
            URL, params={"limit": "3", **({"cursor": cursor} if cursor else {})}
        )
        assert resp.status == 200
        page = await resp.json()
        conforms(URL, "get", 200, page)
        assert "password" not in json.dumps(page) and "$2b$" not in json.dumps(page)
        seen += [u["id"] for u in page["items"]]
        pages += 1
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == sorted(created) and pages == 3


async def test_default_page_size_is_20(client: Client) -> None:
    for n in range(21):
        await client.post(URL, json={**BODY, "email": f"d{n}@example.com"})
    page = await (await client.get(URL)).json()
    assert len(page["items"]) == 20 and page["nextCursor"] is not None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "-1"}, "limit"),
        ({"limit": "²"}, "limit"),  # a digit to str.isdigit(), not to int()
        ({"limit": "٣"}, "limit"),
        ({"cursor": "!!!"}, "cursor"),
        ({"cursor": "bm90LWEtdXVpZA"}, "cursor"),  # base64 of "not-a-uuid"
        ({"limit": "1" * 4301}, "limit"),  # past int()'s digit limit: was a 500
        ({"limit": "0" * 5000 + "5"}, "limit"),
    ],
)
async def test_bad_limit_or_cursor_is_422(
    client: Client, params: dict[str, str], field: str
) -> None:
    resp = await client.get(URL, params=params)
    assert resp.status == 422
    body = await resp.json()
    assert field in body["error"]["fields"]
    conforms(URL, "get", 422, body)


async def test_an_empty_cursor_is_the_first_page_as_the_document_allows(client: Client) -> None:
    for n in range(2):
        await client.post(URL, json={**BODY, "email": f"page{n}@example.com"})
    first = await (await client.get(URL)).json()
    resp = await client.get(URL, params={"cursor": ""})
    assert resp.status == 200
    assert await resp.json() == first
    conforms(URL, "get", 200, first)


async def test_a_lone_surrogate_in_a_field_is_422_naming_it(client: Client, wiring: Wiring) -> None:
    # JSON allows the escape; the string it makes cannot be encoded (was a 500).
    raw = b'{"nombre": "Ana", "email": "ana@example.com", "password": "abcdefg\\ud800"}'
    resp = await client.post(URL, data=raw, headers={"Content-Type": "application/json"})
    assert resp.status == 422
    body = await resp.json()
    assert list(body["error"]["fields"]) == ["password"]
    conforms(URL, "post", 422, body)
    assert await count(wiring, schema.users) == 0


# -- Idempotency-Key -------------------------------------------------------------------


async def test_a_retry_with_the_same_key_and_body_returns_the_first_answer(
    client: Client, wiring: Wiring
) -> None:
    headers = {"Idempotency-Key": "order-42"}
    first = await client.post(URL, json=BODY, headers=headers)
    second = await client.post(URL, json=BODY, headers=headers)
    assert (first.status, second.status) == (201, 201)
    assert await first.json() == await second.json()
    assert first.headers["Location"] == second.headers["Location"]
    assert await count(wiring, schema.users) == 1
    assert await count(wiring, schema.outbox) == 1


async def test_the_same_key_with_another_body_is_422(client: Client, wiring: Wiring) -> None:
    headers = {"Idempotency-Key": "order-43"}
    assert (await client.post(URL, json=BODY, headers=headers)).status == 201
    for other in ({**BODY, "nombre": "Otra"}, {**BODY, "password": "another-password"}):
        resp = await client.post(URL, json=other, headers=headers)
        assert resp.status == 422
        body = await resp.json()
        assert body["error"]["code"] == "idempotency_key_reused"
        conforms(URL, "post", 422, body)
    assert await count(wiring, schema.users) == 1


def registering_at(users: UsersService, clock: Callable[[], datetime]) -> UsersService:
    """`users` with registration on `clock`."""
    registration = users.registration
    new_users = replace(registration.new_users, clock=clock)
    return replace(users, registration=replace(registration, new_users=new_users))


async def test_keys_survive_a_restart_and_expire(
    database_url: str, aiohttp_client: ClientFactory
) -> None:
    headers = {"Idempotency-Key": "order-44"}
    now = [datetime.now(UTC)]
    c = await start_app(app, database_url, http={"idempotency_ttl": 60})
    app.provide(replace(c, users=registering_at(c.users, lambda: now[0])))
    try:
        client = await web_client(aiohttp_client)
        first = await (await client.post(URL, json=BODY, headers=headers)).json()
    finally:
        await stop_app(c)
    # Another worker (a new wiring on the same database) replays it.
    c = await start_app(app, database_url, http={"idempotency_ttl": 60})
    app.provide(replace(c, users=registering_at(c.users, lambda: now[0])))
    try:
        client = await web_client(aiohttp_client)
        resp = await client.post(URL, json=BODY, headers=headers)
        assert resp.status == 201 and await resp.json() == first
        now[0] += timedelta(seconds=61)
        resp = await client.post(URL, json=BODY, headers=headers)
        assert resp.status == 409  # a new request now: that email is taken
    finally:
        await stop_app(c)


async def test_concurrent_retries_with_one_key_create_one_user(
    client: Client, wiring: Wiring
) -> None:
    headers = {"Idempotency-Key": "order-45"}
    responses = await asyncio.gather(
        *(client.post(URL, json=BODY, headers=headers) for _ in range(10))
    )
    bodies = [await r.json() for r in responses]
    assert [r.status for r in responses] == [201] * 10
    assert len({b["id"] for b in bodies}) == 1
    assert await count(wiring, schema.users) == 1


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "ключ"])
async def test_a_malformed_idempotency_key_is_422(client: Client, key: str) -> None:
    resp = await client.post(URL, json=BODY, headers={"Idempotency-Key": key})
    assert resp.status == 422
    assert "Idempotency-Key" in (await resp.json())["error"]["fields"]


# -- hostile input -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (b"[" * 5000 + b"]" * 5000, 413, "body_too_large"),
        (b"[" * 2000 + b"]" * 2000, 400, "malformed_json"),
        (
            b'{"nombre": "a", "nombre": "b", "email": "e@x.io", "password": "12345678"}',
            400,
            "duplicate_key",
        ),
        (b'{"nombre": NaN, "email": "e@x.io", "password": "12345678"}', 400, "malformed_json"),
        (
            b'{"nombre": "Ana", "email": "a@example.com", "password": "12345678"} trailing',
            400,
            "malformed_json",
        ),
        (b"\xef\xbb\xbf{}", 400, "malformed_json"),
        (json.dumps({**BODY, "nombre": "x" * 5000}).encode(), 413, "body_too_large"),
    ],
)
async def test_hostile_bodies_get_a_clear_4xx(
    client: Client, data: bytes, status: int, code: str
) -> None:
    resp = await client.post(URL, data=data, headers={"Content-Type": "application/json"})
    assert resp.status == status
    body = await resp.json()
    assert body["error"]["code"] == code
    conforms(URL, "post", status, body)


async def test_a_chunked_body_over_the_limit_is_413(client: Client) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b" " * 1000

    resp = await client.post(URL, data=chunks(), headers={"Content-Type": "application/json"})
    assert resp.status == 413


@pytest.mark.parametrize(
    ("nombre", "status"),
    [
        ("José Núñez-Ångström", 201),
        ("山田 太郎", 201),
        ("  Ana  ", 201),
        ("Ana\x00", 422),
        ("Ana\u200b", 422),
        ("Ana\nBeth", 422),
    ],
)
async def test_names_unicode_accepted_control_characters_refused(
    client: Client, nombre: str, status: int
) -> None:
    resp = await client.post(URL, json={**BODY, "nombre": nombre})
    assert resp.status == status
    if status == 201:
        assert (await resp.json())["nombre"] == nombre.strip()


@pytest.mark.parametrize("email", ["josé@example.com", "ana@ejemplo.españa", "ana@例え.jp"])
async def test_internationalized_emails_are_refused_with_a_reason(
    client: Client, email: str
) -> None:
    resp = await client.post(URL, json={**BODY, "email": email})
    assert resp.status == 422
    assert "ASCII" in (await resp.json())["error"]["fields"]["email"]


async def test_sql_metacharacters_are_stored_verbatim(client: Client, wiring: Wiring) -> None:
    nombre = "Robert'); DROP TABLE users;-- \"%_\\"
    resp = await client.post(URL, json={**BODY, "nombre": nombre, "email": "o'hara+x@example.com"})
    assert resp.status == 201
    user = await resp.json()
    assert user["nombre"] == nombre and user["email"] == "o'hara+x@example.com"
    assert (await (await client.get(f"{URL}/{user['id']}")).json())["nombre"] == nombre
    assert await count(wiring, schema.users) == 1


async def test_numbers_where_strings_belong_are_422(client: Client) -> None:
    resp = await client.post(URL, json={"nombre": 1, "email": 2, "password": 12345678})
    assert resp.status == 422
    assert set((await resp.json())["error"]["fields"]) == {"nombre", "email", "password"}


async def test_password_of_72_bytes_accepted_73_refused_with_the_reason(client: Client) -> None:
    assert (await client.post(URL, json={**BODY, "password": "é" * 36})).status == 201
    resp = await client.post(
        URL, json={**BODY, "email": "b@example.com", "password": "é" * 36 + "x"}
    )
    assert resp.status == 422
    assert "72 bytes" in (await resp.json())["error"]["fields"]["password"]


# -- secrets ---------------------------------------------------------------------------


async def test_password_and_hash_appear_in_no_log_record_or_response(
    client: Client, wiring: Wiring, caplog: pytest.LogCaptureFixture
) -> None:
    from users_service.adapters.log_redaction import install_log_redaction

    install_log_redaction()
    texts = []
    with caplog.at_level(logging.DEBUG):
        for _ in range(2):  # a 201, then a 409
            resp = await client.post(URL, json=BODY)
            texts.append(await resp.text())
        texts.append(await (await client.post(URL, json={**BODY, "email": "bad"})).text())
        texts.append(await (await client.get(URL)).text())
    password_hash = await wiring.database.fetch_val(sa.select(schema.users.c.password_hash))
    texts += [r.getMessage() for r in caplog.records]
    assert any("FROM users" in t for t in texts)  # DEBUG really was captured (the page query)
    for text in texts:
        assert PASSWORD not in text
        assert password_hash not in text


# -- concurrency -----------------------------------------------------------------------


async def test_fifty_concurrent_creations_of_one_email_make_one_user(
    client: Client, wiring: Wiring
) -> None:
    responses = await asyncio.gather(*(client.post(URL, json=BODY) for _ in range(50)))
    statuses = sorted(r.status for r in responses)
    assert statuses == [201] + [409] * 49
    assert await count(wiring, schema.users) == 1
    assert await count(wiring, schema.outbox) == 1


# -- the OpenAPI document --------------------------------------------------------------


def test_the_openapi_document_is_valid_openapi_3_1() -> None:
    validate(OPENAPI)
    assert OPENAPI["openapi"].startswith("3.1")


async def test_the_served_documents_are_the_ones_in_the_repository(client: Client) -> None:
    assert await (await client.get("/users/v1/openapi.json")).json() == OPENAPI
    assert await (await client.get("/users/v1/asyncapi.json")).json() == contracts.load("asyncapi")


def _normalized(path: str) -> str:
    import re

    return re.sub(r"\{[^{}]+\}", "{}", path)


async def test_served_routes_and_the_document_agree(client: Client) -> None:
    served = {
        (route.method.lower(), _normalized(route.resource.canonical))
        for route in app.web.web_app.router.routes()  # type: ignore[attr-defined]
        if route.method not in {"HEAD", "OPTIONS"} and route.resource is not None
    }
    documented = {
        (method, _normalized(path))
        for path, operations in OPENAPI["paths"].items()
        for method in operations
    }
    assert served == documented
