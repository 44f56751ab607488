"""Found by the adversarial run against real workers (PostgreSQL and SQLite): a client
that closes its connection before sending the body its Content-Length announced is
counted as `500` in `http_requests_total` and logged at ERROR ("unexpected error
answering POST /users/v1/users", ConnectionResetError), which is what docs/operating.md's 5xx
alert pages on ("a 500 is a bug"). Any unauthenticated client can raise that rate.

Served both ways aiohttp can run the handler of a request whose client left: as Faust's
web driver runs it (not cancelled: the body's read raises ConnectionResetError) and as
aiohttp's test server does (the handler is cancelled)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from streamapp.app import app
from streamapp.wiring import Wiring
from tests.integration.test_operations_web import samples
from tests.support.waiting import eventually

ROUTE = {"route": "/users/v1/users", "method": "POST"}


def posts_by_status(scrape: dict[Any, float]) -> dict[str, float]:
    return {
        dict(labels)["status"]: count
        for (name, labels), count in scrape.items()
        if name == "http_requests_total"
        and dict(labels).get("route") == ROUTE["route"]
        and dict(labels).get("method") == ROUTE["method"]
    }


@pytest.fixture(params=[False, True], ids=["as-faust-serves", "handler-cancelled"])
async def server(
    wiring: Wiring, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[str, web.Server]]:
    """The app on a real socket: its base URL, and aiohttp's server (its connections)."""
    app.discover()
    app.web.init_server()
    runner = web.AppRunner(
        app.web.web_app,  # type: ignore[attr-defined]
        handler_cancellation=request.param,
    )
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        assert runner.server is not None
        yield f"http://127.0.0.1:{port}", runner.server
    finally:
        await runner.cleanup()


async def test_a_client_gone_mid_body_is_not_counted_as_a_server_error(
    server: tuple[str, web.Server], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    url, http_server = server
    host, port = url.removeprefix("http://").split(":")
    _, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        b"POST /users/v1/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b'Content-Length: 1000\r\n\r\n{"nombre": '
    )
    await writer.drain()

    async def handler_reading() -> bool:
        # aiohttp's own flag (private): the request was dispatched and its handler runs,
        # reading the body, when the client leaves.
        return any(c._request_in_progress for c in http_server.connections)

    await eventually(handler_reading, timeout=10, interval=0.01, what="the handler running")
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()

    async with aiohttp.ClientSession() as session:

        async def counted() -> dict[str, float]:
            async with session.get(f"{url}/metrics") as response:
                return posts_by_status(samples(await response.text()))

        statuses = await eventually(counted, timeout=10, what="the abandoned POST counted")
    assert not [s for s in statuses if s.startswith("5")], statuses
    assert [s for s in statuses if s.startswith("4")], statuses
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert not loud, [r.getMessage() for r in loud]
