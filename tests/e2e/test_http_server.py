"""The HTTP server of a real worker, seen from a socket: idle keep-alive connections are
closed after HTTP_KEEPALIVE_TIMEOUT, not kept for aiohttp's default hour."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

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
