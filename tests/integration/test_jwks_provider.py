"""The JwtVerifier against a real identity provider on loopback: how long a key stays
trusted after the provider drops it, and what each fault of the provider answers."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.services import free_port
from tests.support.waiting import eventually
from users_service.adapters.jwt_tokens import JwtVerifier
from users_service.domain.access import NotAuthenticated

AUDIENCE = "users-service"
KEY_1 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
KEY_2 = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def key_entry(kid: str, key: rsa.RSAPrivateKey) -> dict[str, Any]:
    entry: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    entry.update({"kid": kid, "alg": "RS256", "use": "sig"})
    return entry


def token(kid: str, key: rsa.RSAPrivateKey) -> str:
    now = int(time.time())
    claims = {"sub": "t", "aud": AUDIENCE, "exp": now + 300, "scope": "users:read"}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


@dataclass
class Provider:
    """A JWKS endpoint whose key list the test changes; it counts its fetches."""

    url: str
    keys: list[dict[str, Any]]
    fetches: list[float] = field(default_factory=list)


@pytest.fixture
async def provider() -> AsyncIterator[Provider]:
    state = Provider(url="", keys=[key_entry("k1", KEY_1)])

    async def handler(request: web.Request) -> web.Response:
        state.fetches.append(time.monotonic())
        return web.json_response({"keys": state.keys})

    web_app = web.Application()
    web_app.router.add_get("/jwks.json", handler)
    runner = web.AppRunner(web_app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    state.url = f"http://127.0.0.1:{port}/jwks.json"
    try:
        yield state
    finally:
        await runner.cleanup()


async def accepted(verifier: JwtVerifier, tok: str) -> bool:
    try:
        await verifier.principal(tok)
    except NotAuthenticated:
        return False
    return True


# -- Case 4: a key the provider removed stops being trusted within the set's lifespan ---


async def test_a_removed_key_is_refused_once_the_key_set_expires(provider: Provider) -> None:
    # A short lifespan stands for the five minutes of production; nothing else differs.
    verifier = JwtVerifier(jwks_url=provider.url, key_lifespan=0.5, refresh_cooldown=0)
    revoked = token("k1", KEY_1)
    assert await accepted(verifier, revoked)
    provider.keys[:] = [key_entry("k2", KEY_2)]  # the provider revokes k1, rotates to k2

    async def refused() -> bool:
        return not await accepted(verifier, revoked)

    await eventually(refused, timeout=10, what="the revoked key refused")
    assert await accepted(verifier, token("k2", KEY_2))


async def test_within_its_lifespan_the_key_set_is_served_from_the_cache(
    provider: Provider,
) -> None:
    verifier = JwtVerifier(jwks_url=provider.url, key_lifespan=300, refresh_cooldown=30)
    tok = token("k1", KEY_1)
    for _ in range(20):
        assert await accepted(verifier, tok)
    assert len(provider.fetches) == 1  # one fetch, not one per request


def test_the_key_set_lives_five_minutes_by_default() -> None:
    # The README's promise: a key removed at the provider is refused within five minutes.
    verifier = JwtVerifier(jwks_url="http://127.0.0.1:1/jwks.json")
    assert verifier.key_lifespan == 300
