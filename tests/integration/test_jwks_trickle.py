"""Found by the adversarial run: a provider that sends its answer a byte at a time (each
byte well within the socket timeout) holds every token for as long as it trickles: urllib's
timeout bounds each read, not the fetch. Against a real worker, a provider trickling a
450-byte JWKS at 5 bytes/s held an unknown-kid token 91.5 s, and tokens whose kid was
cached waited behind that fetch (90.5 s). docs/security.md: "slower than 5 s" is
`503 auth_unavailable`."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from users_service.adapters.jwt_tokens import JwtVerifier
from users_service.domain.access import AuthUnavailable

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
JWK = {**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(KEY.public_key())), "kid": "k1"}
TOKEN = jwt.encode(
    {"sub": "u", "aud": "users-service", "exp": int(time.time()) + 3600},
    KEY,
    algorithm="RS256",
    headers={"kid": "k1"},
)
FETCH_TIMEOUT = 0.5
BYTE_EVERY = 0.05  # far below the timeout: no single read times out


@pytest.fixture
async def trickling_provider() -> AsyncIterator[str]:
    body = json.dumps({"keys": [JWK]}).encode()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
            )
            for i in range(len(body)):
                writer.write(body[i : i + 1])
                await writer.drain()
                await asyncio.sleep(BYTE_EVERY)
        except (ConnectionError, asyncio.CancelledError):
            pass
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/jwks.json"
    finally:
        server.close()


async def test_a_trickling_provider_is_auth_unavailable_within_the_fetch_timeout(
    trickling_provider: str,
) -> None:
    verifier = JwtVerifier(
        jwks_url=trickling_provider, refresh_cooldown=0, fetch_timeout=FETCH_TIMEOUT
    )
    started = time.monotonic()
    with pytest.raises(AuthUnavailable):
        await verifier.principal(TOKEN)
    # The whole body takes len(body) * 0.05 s (about 22 s); the fetch must give up near
    # its timeout instead.
    assert time.monotonic() - started < FETCH_TIMEOUT * 4


@pytest.fixture
async def provider_trickling_after_first_answer() -> AsyncIterator[tuple[str, asyncio.Event]]:
    """Answers the first fetch at once, trickles every later one; the event is set when
    a later fetch has begun."""
    body = json.dumps({"keys": [JWK]}).encode()
    answered = 0
    refetching = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal answered
        try:
            await reader.readuntil(b"\r\n\r\n")
            answered += 1
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
            )
            if answered == 1:
                writer.write(body)
            else:
                refetching.set()
                for i in range(len(body)):
                    writer.write(body[i : i + 1])
                    await writer.drain()
                    await asyncio.sleep(BYTE_EVERY)
            await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/jwks.json", refetching
    finally:
        server.close()


async def test_a_cached_kid_does_not_wait_behind_a_refetch_for_an_unknown_kid(
    provider_trickling_after_first_answer: tuple[str, asyncio.Event],
) -> None:
    url, refetching = provider_trickling_after_first_answer
    slow_fetch = 3.0
    verifier = JwtVerifier(jwks_url=url, refresh_cooldown=0, fetch_timeout=slow_fetch)
    await verifier.principal(TOKEN)  # the set is cached
    unknown = jwt.encode(
        {"sub": "u", "aud": "users-service", "exp": int(time.time()) + 3600},
        KEY,
        algorithm="RS256",
        headers={"kid": "rotated"},
    )
    refetch = asyncio.ensure_future(verifier.principal(unknown))
    await asyncio.wait_for(refetching.wait(), timeout=slow_fetch)
    started = time.monotonic()
    principal = await verifier.principal(TOKEN)
    waited = time.monotonic() - started
    assert principal.subject == "u"
    assert not refetch.done()  # the refetch was still holding the client's lock
    assert waited < slow_fetch / 3, waited
    with pytest.raises(AuthUnavailable):
        await refetch
