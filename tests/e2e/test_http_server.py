"""The HTTP server of a real worker, seen from a socket: idle keep-alive connections are
closed after HTTP_KEEPALIVE_TIMEOUT, not kept for aiohttp's default hour; header bytes
no HTTP client library would send are a 4xx, not a 500."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from tests.support.waiting import eventually
from tests.support.worker import Worker


async def test_an_idle_keep_alive_connection_is_closed_after_the_timeout(
    worker_env: dict[str, str], workers: list[Worker], tmp_path: Path
) -> None:
    worker = Worker({**worker_env, "HTTP_KEEPALIVE_TIMEOUT": "1"}, tmp_path)
    workers.append(worker)
    worker.start()
    await worker.wait_serving(kafka=False)
    reader, writer = await asyncio.open_connection("127.0.0.1", worker.port)
    try:
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n")
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
        assert head.startswith(b"HTTP/1.1 200")
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        idle_since = time.monotonic()
        # The server closes the connection: the read ends (EOF) instead of timing out.
        assert await asyncio.wait_for(reader.read(1), timeout=15) == b""
        assert time.monotonic() - idle_since < 10
    finally:
        writer.close()


async def _raw_request(port: int, request: bytes) -> bytes:
    """Send `request` as given (bytes no HTTP client would send) and read the whole answer
    (the request says Connection: close)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/users/v1/users"),
        ("GET", "/users/v1/users/0a2ae4bd-2212-400d-abe9-545ebcb162b2"),
        ("DELETE", "/users/v1/users/0a2ae4bd-2212-400d-abe9-545ebcb162b2"),
        ("GET", "/users/v1/events/verification"),
    ],
)
async def test_a_bearer_token_that_is_not_utf_8_is_401_not_500(
    worker_env: dict[str, str], workers: list[Worker], tmp_path: Path, method: str, path: str
) -> None:
    # aiohttp reads header bytes that are not UTF-8 as lone surrogates; PyJWT's
    # token.encode("utf-8") then raised UnicodeEncodeError, out of the view as a 500.
    worker = Worker(worker_env, tmp_path)
    workers.append(worker)
    worker.start()
    await worker.wait_serving(kafka=False)
    answer = await _raw_request(
        worker.port,
        f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n".encode()
        + b"Authorization: Bearer \xff\xfe.\xc3(\r\n\r\n",
    )
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 401"), answer[:300]
    assert b'error="invalid_token"' in head
    assert json.loads(body)["error"]["code"] == "unauthenticated"
    assert "Traceback" not in worker.log_text()


async def test_a_body_that_is_not_its_content_encoding_is_400_and_no_traceback(
    worker_env: dict[str, str], workers: list[Worker], tmp_path: Path
) -> None:
    # The view answers 400 malformed_body; aiohttp then drains the rest of the body
    # (its lingering close), which raised the stored decoding error again: logged as
    # "Unhandled exception" at ERROR with three chained tracebacks.
    worker = Worker(worker_env, tmp_path)
    workers.append(worker)
    worker.start()
    await worker.wait_serving(kafka=False)
    body = b'{"nombre": "Ana", "email": "ana-gzip@example.com", "password": "pw-gzip-1234"}'
    answer = await _raw_request(
        worker.port,
        b"POST /users/v1/users HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Content-Type: application/json\r\nContent-Encoding: gzip\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body,
    )
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), answer[:300]
    assert json.loads(payload)["error"]["code"] == "malformed_body"

    async def drained() -> bool:
        text = worker.log_text()
        return "refused a malformed request" in text or "Unhandled exception" in text

    await eventually(drained, timeout=10, what="aiohttp's line about the undecodable body")
    assert "Unhandled exception" not in worker.log_text()
    assert "Traceback" not in worker.log_text()


async def test_a_path_cannot_forge_a_line_of_the_text_log(
    worker_env: dict[str, str], workers: list[Worker], tmp_path: Path
) -> None:
    # aiohttp percent-decodes the path; the request's log line quoted it as decoded, so
    # %0a ended the line and the rest read as a line of its own, a forged ERROR.
    worker = Worker({**worker_env, "LOG_FORMAT": "text"}, tmp_path, via_cli=True)
    workers.append(worker)
    worker.start()
    await worker.wait_serving(kafka=False)
    forged = "[2026-01-01 00:00:00,000] [1] [ERROR] users.http: forged"
    path = "/users/v1/users/x%0a" + forged.replace(" ", "%20").replace("[", "%5B")
    path = path.replace("]", "%5D") + "%00%1b[31m"
    answer = await _raw_request(
        worker.port, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    )
    assert answer.startswith(b"HTTP/1.1 "), answer[:300]

    async def logged() -> bool:
        return "forged" in worker.log_text()

    await eventually(logged, timeout=10, what="the request's log line")
    lines = worker.log_text().splitlines()
    assert not [line for line in lines if line.startswith(forged)]
    assert not [line for line in lines if "\x00" in line or "\x1b" in line]
