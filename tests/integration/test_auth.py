"""Bearer JWT on every protected operation, taken from the OpenAPI document (a new route
cannot be forgotten): the whole token matrix, in HS256 mode and against a JWKS."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from streamapp.app import app
from tests.support.services import free_port
from tests.support.web import (
    TEST_JWT_SECRET,
    Client,
    ClientFactory,
    start_app,
    stop_app,
    web_client,
)
from users_service import contracts

OPENAPI = contracts.load("openapi")
AUDIENCE = "users-service"


def protected_operations() -> list[tuple[str, str, str]]:
    """(method, concrete path, scope) of every operation whose document requires a scope."""
    found = []
    for path, operations in OPENAPI["paths"].items():
        for method, operation in operations.items():
            if {} in operation.get("security", []):
                continue  # authentication is optional there (public sign-up)
            for requirement in operation.get("security", []):
                for scope in requirement.get("bearerAuth", []):
                    concrete = path.replace("{userId}", str(uuid.uuid4()))
                    found.append((method.upper(), concrete, scope))
    return found


PROTECTED = protected_operations()


def claims(**patch: Any) -> dict[str, Any]:
    now = int(time.time())
    body: dict[str, Any] = {
        "sub": "tester",
        "aud": AUDIENCE,
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "scope": "users:read users:write ops:read",
    }
    body.update(patch)
    return {k: v for k, v in body.items() if v is not None}


def hs256(secret: str = TEST_JWT_SECRET, **patch: Any) -> str:
    return jwt.encode(claims(**patch), secret, algorithm="HS256")


RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
RSA_PUBLIC_PEM = RSA_KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)


def rs256(kid: str = "k1", **patch: Any) -> str:
    return jwt.encode(claims(**patch), RSA_KEY, algorithm="RS256", headers={"kid": kid})


def unsigned(**patch: Any) -> str:
    return jwt.encode(claims(**patch), None, algorithm="none")  # type: ignore[arg-type]


def confused() -> str:
    """HS256 'signed' with the RSA public key as the shared secret: the classic confusion."""
    header = {"alg": "HS256", "typ": "JWT", "kid": "k1"}
    segments = [jwt.utils.base64url_encode(json.dumps(p).encode()) for p in (header, claims())]
    signing_input = b".".join(segments)
    signature = hmac.new(RSA_PUBLIC_PEM, signing_input, hashlib.sha256).digest()
    return b".".join([signing_input, jwt.utils.base64url_encode(signature)]).decode()


# Made when the test runs, not when the module is collected: a token "not yet valid" for
# five minutes from collection was valid by the time a longer suite reached it.
INVALID_HS: dict[str, Callable[[], str]] = {
    "malformed": lambda: "Bearer not.a.jwt",
    "not a bearer": lambda: "Basic dXNlcjpwYXNz",
    "bad signature": lambda: f"Bearer {hs256(secret='another-secret-of-at-least-32-bytes!')}",
    "wrong audience": lambda: f"Bearer {hs256(aud='someone-else')}",
    "expired": lambda: f"Bearer {hs256(exp=int(time.time()) - 300)}",
    "not yet valid": lambda: f"Bearer {hs256(nbf=int(time.time()) + 300)}",
    "no expiry": lambda: f"Bearer {hs256(exp=None)}",
    "alg none": lambda: f"Bearer {unsigned()}",
    "an RS256 token": lambda: f"Bearer {rs256()}",
}


@pytest.fixture
async def anonymous(database_url: str, aiohttp_client: ClientFactory) -> AsyncIterator[Client]:
    wiring = await start_app(app, database_url)
    try:
        yield await web_client(aiohttp_client, token=None)
    finally:
        await stop_app(wiring)


@pytest.mark.parametrize(("method", "path", "scope"), PROTECTED)
async def test_without_a_token_it_is_401_with_a_bearer_challenge(
    anonymous: Client, method: str, path: str, scope: str
) -> None:
    resp = await anonymous.request(method, path)
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"].startswith('Bearer realm="users-service"')
    assert (await resp.json())["error"]["code"] == "unauthenticated"


@pytest.mark.parametrize(("method", "path", "scope"), PROTECTED)
@pytest.mark.parametrize("kind", sorted(INVALID_HS))
async def test_an_invalid_token_is_401_invalid_token(
    anonymous: Client, method: str, path: str, scope: str, kind: str
) -> None:
    resp = await anonymous.request(method, path, headers={"Authorization": INVALID_HS[kind]()})
    assert resp.status == 401, kind
    assert 'error="invalid_token"' in resp.headers["WWW-Authenticate"] or kind == "not a bearer"
    body = await resp.json()
    assert body["error"]["code"] == "unauthenticated"
    assert "Bearer" not in body["error"]["message"]  # the token is never echoed


@pytest.mark.parametrize(("method", "path", "scope"), PROTECTED)
async def test_a_valid_token_without_the_scope_is_403_and_with_it_passes(
    anonymous: Client, method: str, path: str, scope: str
) -> None:
    others = " ".join(s for s in ("users:read", "users:write", "ops:read") if s != scope)
    resp = await anonymous.request(
        method, path, headers={"Authorization": f"Bearer {hs256(scope=others)}"}
    )
    assert resp.status == 403
    assert 'error="insufficient_scope"' in resp.headers["WWW-Authenticate"]
    assert f'scope="{scope}"' in resp.headers["WWW-Authenticate"]
    resp = await anonymous.request(
        method, path, headers={"Authorization": f"Bearer {hs256(scope=scope)}"}
    )
    assert resp.status not in (401, 403) and resp.status < 500


async def test_the_document_protects_what_it_should() -> None:
    assert {(m, p.split("/")[-1] if "-" in p else p, s) for m, p, s in PROTECTED} >= {
        ("GET", "/users/v1/users", "users:read"),
        ("GET", "/users/v1/events/verification", "ops:read"),
    }
    assert sum(1 for _, _, s in PROTECTED if s == "users:read") == 2


async def test_liveness_and_the_documents_stay_open(anonymous: Client) -> None:
    for path in ("/", "/users/v1/openapi.json", "/users/v1/asyncapi.json"):
        assert (await anonymous.get(path)).status == 200


async def test_sign_up_is_open_by_default_and_needs_users_write_when_configured(
    database_url: str, aiohttp_client: ClientFactory
) -> None:
    body = {"nombre": "Ana", "email": "ana@example.com", "password": "correct-horse"}
    wiring = await start_app(app, database_url, auth={"require_for_create": True})
    try:
        client = await web_client(aiohttp_client, token=None)
        assert (await client.post("/users/v1/users", json=body)).status == 401
        read_only = {"Authorization": f"Bearer {hs256(scope='users:read')}"}
        assert (await client.post("/users/v1/users", json=body, headers=read_only)).status == 403
        writer = {"Authorization": f"Bearer {hs256(scope='users:write')}"}
        assert (await client.post("/users/v1/users", json=body, headers=writer)).status == 201
    finally:
        await stop_app(wiring)


async def test_with_no_secret_and_no_jwks_every_protected_endpoint_is_closed(
    database_url: str, aiohttp_client: ClientFactory
) -> None:
    wiring = await start_app(app, database_url, auth={"jwt_secret": None})
    try:
        client = await web_client(aiohttp_client, token=None)
        for method, path, _ in PROTECTED:
            headers = {"Authorization": f"Bearer {hs256()}"}
            assert (await client.request(method, path, headers=headers)).status == 401
    finally:
        await stop_app(wiring)


# -- An identity provider's JWKS ------------------------------------------------------


def key_entry(kid: str, key: rsa.RSAPrivateKey = RSA_KEY) -> dict[str, Any]:
    entry: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    entry.update({"kid": kid, "alg": "RS256", "use": "sig"})
    return entry


@pytest.fixture
async def jwks() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """A JWKS endpoint on loopback, whose key list the test may change (rotation)."""
    keys = [key_entry("k1")]

    async def handler(request: web.Request) -> web.Response:
        return web.json_response({"keys": keys})

    web_app = web.Application()
    web_app.router.add_get("/jwks.json", handler)
    runner = web.AppRunner(web_app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/jwks.json", keys
    finally:
        await runner.cleanup()


async def test_against_a_jwks_rs256_passes_a_rotated_key_is_fetched_and_confusion_fails(
    database_url: str, aiohttp_client: ClientFactory, jwks: tuple[str, list[dict[str, Any]]]
) -> None:
    url, keys = jwks
    wiring = await start_app(
        app,
        database_url,
        auth={"jwt_secret": None, "jwks_url": url, "jwks_refresh_cooldown": 0},
    )
    try:
        client = await web_client(aiohttp_client, token=None)

        async def status(token: str) -> int:
            headers = {"Authorization": f"Bearer {token}"}
            return (await client.get("/users/v1/users", headers=headers)).status

        assert await status(rs256(scope="users:read")) == 200
        assert await status(confused()) == 401  # the public key as an HMAC secret
        assert await status(hs256(scope="users:read")) == 401  # HS256 is not accepted here
        assert await status(unsigned(scope="users:read")) == 401
        # The provider rotates: a new key, a new kid. The service fetches the set again.
        new_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        keys.append(key_entry("k2", new_key))
        rotated = jwt.encode(
            claims(scope="users:read"), new_key, algorithm="RS256", headers={"kid": "k2"}
        )
        assert await status(rotated) == 200
    finally:
        await stop_app(wiring)
