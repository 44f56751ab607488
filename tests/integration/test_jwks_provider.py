"""The JwtVerifier against a real identity provider on loopback: how long a key stays
trusted after the provider drops it, and what each fault of the provider answers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamapp.app import app
from tests.integration.test_api_contract import conforms
from tests.support.services import free_port
from tests.support.waiting import eventually
from tests.support.web import ClientFactory, start_app, stop_app, web_client
from users_service.adapters.jwt_tokens import JwtVerifier
from users_service.domain.access import AuthUnavailable, NotAuthenticated

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
    # docs/security.md's promise: a key removed at the provider is refused within five minutes.
    verifier = JwtVerifier(jwks_url="http://127.0.0.1:1/jwks.json")
    assert verifier.key_lifespan == 300


# -- Case 6: every fault of the provider is 503 auth_unavailable, never a 500 ----------


@dataclass
class Faulty:
    """A raw TCP server on loopback that answers each HTTP request with `answer`'s bytes,
    then closes cleanly, resets (RST), or holds the connection open (a slow provider)."""

    url: str = ""
    answer: bytes = b""
    ending: str = "close"  # "close", "reset" or "hang"
    released: asyncio.Event = field(default_factory=asyncio.Event)
    requests: int = 0


def http_answer(status: str, body: bytes, *, length: int | None = None) -> bytes:
    size = len(body) if length is None else length
    head = f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {size}\r\n"
    return head.encode() + b"Connection: close\r\n\r\n" + body


@pytest.fixture
async def faulty() -> AsyncIterator[Faulty]:
    state = Faulty()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state.requests += 1
        try:
            await reader.readuntil(b"\r\n\r\n")
            if state.ending == "hang":
                await state.released.wait()  # until the test ends: slower than any timeout
            writer.write(state.answer)
            await writer.drain()
            if state.ending == "reset":
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.transport.abort()
                return
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    state.url = f"http://127.0.0.1:{port}/jwks.json"
    try:
        yield state
    finally:
        state.released.set()
        server.close()
        await server.wait_closed()


def keys_body(*entries: Any) -> bytes:
    return json.dumps({"keys": list(entries)}).encode()


GOOD_KEY = key_entry("k1", KEY_1)
FAULTS: dict[str, tuple[bytes, str]] = {
    "200 with a non-JSON body": (http_answer("200 OK", b"<html>sign in</html>"), "close"),
    "200 with a body that is not UTF-8": (http_answer("200 OK", b"\xff\xfe{\x00"), "close"),
    "reset mid-body": (http_answer("200 OK", keys_body(GOOD_KEY)[:40], length=4000), "reset"),
    "closed mid-body": (http_answer("200 OK", keys_body(GOOD_KEY)[:40], length=4000), "close"),
    "reset before any answer": (b"", "reset"),
    "not HTTP at all": (b"SSH-2.0-OpenSSH_9.6\r\n", "close"),
    "JSON that is not an object": (http_answer("200 OK", b"[1, 2, 3]"), "close"),
    "an object without keys": (http_answer("200 OK", b'{"issuer": "x"}'), "close"),
    "an empty key list": (http_answer("200 OK", keys_body()), "close"),
    "keys that is a string": (http_answer("200 OK", b'{"keys": "k1"}'), "close"),
    "keys that are numbers": (http_answer("200 OK", keys_body(1, None, True)), "close"),
    "a key with bad members": (
        http_answer("200 OK", keys_body({**GOOD_KEY, "n": 5, "e": None})),
        "close",
    ),
    "a key of an unknown type": (
        http_answer("200 OK", keys_body({"kty": "XYZ", "kid": "k1"})),
        "close",
    ),
    "encryption keys only": (http_answer("200 OK", keys_body({**GOOD_KEY, "use": "enc"})), "close"),
    "JSON nested past the parser's depth": (http_answer("200 OK", b"[" * 100_000), "close"),
    "a slow provider": (http_answer("200 OK", keys_body(GOOD_KEY)), "hang"),
    "503 from the provider": (http_answer("503 Service Unavailable", b"{}"), "close"),
    "500 from the provider": (http_answer("500 Internal Server Error", b"oops"), "close"),
    "404 from the provider": (http_answer("404 Not Found", b""), "close"),
    "a redirect": (
        http_answer("302 Found", b"").replace(b"\r\n\r\n", b"\r\nLocation: /x\r\n\r\n"),
        "close",
    ),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
async def test_a_provider_fault_is_auth_unavailable(faulty: Faulty, fault: str) -> None:
    faulty.answer, faulty.ending = FAULTS[fault]
    verifier = JwtVerifier(jwks_url=faulty.url, refresh_cooldown=0, fetch_timeout=0.5)
    with pytest.raises(AuthUnavailable):
        await verifier.principal(token("k1", KEY_1))
    assert faulty.requests >= 1  # the fault was met, not skipped


async def test_after_a_fault_the_provider_is_asked_again_and_recovery_is_seen(
    faulty: Faulty,
) -> None:
    faulty.answer, faulty.ending = FAULTS["encryption keys only"]
    verifier = JwtVerifier(
        jwks_url=faulty.url, refresh_cooldown=0, fetch_timeout=0.5, fault_backoff=0.2
    )
    tok = token("k1", KEY_1)
    with pytest.raises(AuthUnavailable):
        await verifier.principal(tok)
    faulty.answer = http_answer("200 OK", keys_body(GOOD_KEY))  # the provider recovers

    async def judged() -> bool:
        try:
            await verifier.principal(tok)
        except AuthUnavailable:
            return False
        return True

    # A set without signing keys is not kept for the lifespan: once the short backoff
    # has passed, the next token fetches the set again.
    await eventually(judged, timeout=10, what="the recovered provider's keys used")


async def test_while_the_provider_fails_requests_do_not_queue_behind_it(
    faulty: Faulty,
) -> None:
    faulty.answer, faulty.ending = FAULTS["a slow provider"]
    verifier = JwtVerifier(
        jwks_url=faulty.url, refresh_cooldown=0, fetch_timeout=0.5, fault_backoff=60
    )
    tok = token("k1", KEY_1)
    outcomes = await asyncio.gather(
        *(verifier.principal(tok) for _ in range(8)), return_exceptions=True
    )
    assert all(isinstance(o, AuthUnavailable) for o in outcomes), outcomes
    # One fetch met the timeout; the others were answered from the recent failure
    # instead of each waiting out a timeout of its own behind the client's lock.
    assert faulty.requests == 1


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=20,
)
key_like = st.fixed_dictionaries(
    {"kty": st.sampled_from(["RSA", "EC", "oct", "OKP", "XYZ"]) | json_values},
    optional={
        "kid": st.just("k1") | json_values,
        "use": st.sampled_from(["sig", "enc"]) | json_values,
        "alg": st.sampled_from(["RS256", "ES256", "none"]) | json_values,
        "n": st.just(GOOD_KEY["n"]) | json_values,
        "e": st.just(GOOD_KEY["e"]) | json_values,
        "crv": st.sampled_from(["P-256", "P-999"]) | json_values,
        "x": json_values,
        "y": json_values,
    },
)
provider_bodies = (
    st.binary(max_size=200)
    | json_values.map(lambda v: json.dumps(v).encode())
    | st.lists(key_like | json_values, max_size=3).map(lambda ks: keys_body(*ks))
)


@pytest.mark.property
@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=provider_bodies, status=st.sampled_from(["200 OK", "200 OK", "500 Oops"]))
async def test_whatever_the_provider_answers_the_token_is_judged_or_auth_unavailable(
    faulty: Faulty, body: bytes, status: str
) -> None:
    faulty.answer, faulty.ending = http_answer(status, body), "close"
    verifier = JwtVerifier(jwks_url=faulty.url, refresh_cooldown=0, fetch_timeout=2)
    # A provider's garbage never escapes as anything else (the 500 of case 6).
    with contextlib.suppress(AuthUnavailable, NotAuthenticated):
        await verifier.principal(token("k1", KEY_1))


@pytest.mark.parametrize(
    "fault", ["200 with a non-JSON body", "reset mid-body", "a key with bad members"]
)
async def test_over_http_a_provider_fault_is_503_auth_unavailable_as_documented(
    database_url: str, aiohttp_client: ClientFactory, faulty: Faulty, fault: str
) -> None:
    faulty.answer, faulty.ending = FAULTS[fault]
    wiring = await start_app(app, database_url, auth={"jwt_secret": None, "jwks_url": faulty.url})
    try:
        client = await web_client(aiohttp_client, token=token("k1", KEY_1))
        resp = await client.get("/users/v1/users")
        assert resp.status == 503, await resp.text()
        assert resp.headers["Retry-After"] == "1"
        body = await resp.json()
        assert body["error"]["code"] == "auth_unavailable"
        conforms("/users/v1/users", "get", 503, body)
    finally:
        await stop_app(wiring)
