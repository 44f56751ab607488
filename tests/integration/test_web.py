"""The HTTP contract, through Faust's own aiohttp app, over both real databases (no Kafka)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient

from streamapp.app import app
from streamapp.wiring import Wiring
from tests.support.services import POSTGRES_URL
from tests.support.tcp_proxy import TcpProxy
from tests.support.web import ClientFactory, start_app, stop_app, web_client
from users_service.adapters.storage import schema

URL = "/users/v1/users"
BODY = {"nombre": "Ana", "email": "Ana@Example.com", "password": "s3cret-pass"}


async def test_create_user_answers_201_with_the_public_user(
    client: TestClient[Any, Any], wiring: Wiring
) -> None:
    resp = await client.post(URL, json=BODY)
    assert resp.status == 201
    body = await resp.json()
    assert set(body) == {"id", "nombre", "email", "createdAt"}
    assert (body["nombre"], body["email"]) == ("Ana", "ana@example.com")
    assert body["createdAt"].endswith("Z")
    assert resp.headers["Location"] == f"{URL}/{body['id']}"
    text = await resp.text()
    assert "s3cret-pass" not in text and "$2b$" not in text

    db = wiring.database
    row = await db.fetch_one(schema.users.select())
    assert row is not None and row["id"] == body["id"]
    assert row["password_hash"].startswith("$2b$04$")
    outbox = await db.fetch_one(schema.outbox.select())
    assert outbox is not None and json.loads(outbox["payload"])["data"] == body
    assert "s3cret-pass" not in outbox["payload"] and row["password_hash"] not in outbox["payload"]


@pytest.mark.parametrize(
    ("data", "content_type", "status", "code"),
    [
        (b"{not json", "application/json", 400, "malformed_json"),
        (b"", "application/json", 400, "malformed_json"),
        (b"\xff\xfe", "application/json", 400, "malformed_json"),
        (b'["a"]', "application/json", 400, "not_an_object"),
        (b'"text"', "application/json", 400, "not_an_object"),
        (json.dumps(BODY).encode(), "text/plain", 415, "unsupported_media_type"),
        (
            json.dumps(BODY).encode(),
            "application/x-www-form-urlencoded",
            415,
            "unsupported_media_type",
        ),
    ],
)
async def test_malformed_requests_get_a_named_4xx(
    client: TestClient[Any, Any], data: bytes, content_type: str, status: int, code: str
) -> None:
    resp = await client.post(URL, data=data, headers={"Content-Type": content_type})
    assert resp.status == status
    assert (await resp.json())["error"]["code"] == code


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"nombre": ""}, "nombre"),
        ({"nombre": "x" * 101}, "nombre"),
        ({"password": "short"}, "password"),
        ({"password": "x" * 73}, "password"),
        ({"password": 12345678}, "password"),
        ({"admin": True}, "admin"),
    ],
)
async def test_invalid_fields_get_422_naming_the_field(
    client: TestClient[Any, Any], wiring: Wiring, patch: dict[str, Any], field: str
) -> None:
    resp = await client.post(URL, json={**BODY, **patch})
    assert resp.status == 422
    error = (await resp.json())["error"]
    assert error["code"] == "invalid" and field in error["fields"]
    assert (
        await wiring.database.fetch_val(sa.select(sa.func.count()).select_from(schema.users)) == 0
    )


async def test_missing_field_is_named(client: TestClient[Any, Any]) -> None:
    resp = await client.post(URL, json={"nombre": "Ana", "email": "a@example.com"})
    assert resp.status == 422
    assert (await resp.json())["error"]["fields"] == {"password": "is required"}


async def test_duplicate_email_is_409_whatever_its_case(
    client: TestClient[Any, Any], wiring: Wiring
) -> None:
    assert (await client.post(URL, json=BODY)).status == 201
    resp = await client.post(URL, json={**BODY, "email": "  ANA@example.COM "})
    assert resp.status == 409
    assert (await resp.json())["error"]["code"] == "duplicate_email"
    db = wiring.database
    assert await db.fetch_val(sa.select(sa.func.count()).select_from(schema.outbox)) == 1


async def test_verification_endpoint_reports_counts_and_backlog(
    client: TestClient[Any, Any],
) -> None:
    assert (await client.post(URL, json=BODY)).status == 201
    resp = await client.get("/users/v1/events/verification")
    assert resp.status == 200
    body = await resp.json()
    assert body["received"] == 0
    assert body["reconciliation"]["unverifiedUsers"] == 1
    # Kafka is off in these tests: the event waits in the outbox.
    assert body["outbox"]["pending"] == 1
    assert body["outbox"]["kafkaAvailable"] is False


async def test_unreachable_database_is_503_and_nothing_is_half_written(
    postgres_url: str, aiohttp_client: ClientFactory
) -> None:
    proxy = TcpProxy("127.0.0.1", 5432)
    await proxy.start()
    c = await start_app(app, POSTGRES_URL.replace(":5432/", f":{proxy.port}/"))
    try:
        client = await web_client(aiohttp_client)
        await proxy.cut()
        resp = await client.post(URL, json=BODY)
        assert resp.status == 503
        assert (await resp.json())["error"]["code"] == "database_unavailable"
    finally:
        await stop_app(c)
    direct = await start_app(app, postgres_url)
    try:
        assert (
            await direct.database.fetch_val(sa.select(sa.func.count()).select_from(schema.users))
            == 0
        )
    finally:
        await stop_app(direct)
