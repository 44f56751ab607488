"""Overload over HTTP, in process on a real database: past the hashing queue, sign-ups are
refused at once with 503 and Retry-After, never queued without limit, never a 500, and
every 201 is a stored user."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa

import web.middleware
from streamapp.app import app
from streamapp.wiring import Wiring
from tests.support.waiting import eventually
from tests.support.web import Client, ClientFactory, start_app, stop_app, web_client
from users_service.adapters.storage import schema
from web.shedding import RefusalLog, RefusalPace

URL = "/users/v1/users"
BODY = {"nombre": "Ana", "email": "ana@example.com", "password": "correct-horse"}


@pytest.fixture
def app_settings() -> dict[str, Any]:
    """One hashing thread, nothing waiting, and a cost that takes tens of milliseconds."""
    return {"auth": {"bcrypt_rounds": 10, "hash_workers": 1, "hash_queue": 0}}


async def test_a_burst_past_the_hashing_queue_is_shed_with_503(
    client: Client, wiring: Wiring
) -> None:
    bodies = [
        {"nombre": "N", "email": f"burst{n}@example.com", "password": "correct-horse"}
        for n in range(8)
    ]
    responses = await asyncio.gather(*(client.post(URL, json=b) for b in bodies))
    statuses = [r.status for r in responses]
    shed = [r for r in responses if r.status == 503]
    assert statuses.count(201) >= 1 and shed, statuses
    assert set(statuses) <= {201, 503}
    for response in shed:
        assert response.headers["Retry-After"]
        assert (await response.json())["error"]["code"] == "overloaded"
    stored = await wiring.database.fetch_val(sa.select(sa.func.count()).select_from(schema.users))
    assert stored == statuses.count(201)


async def test_a_busy_request_pool_answers_503_in_time_and_leaves_the_relay_its_own(
    postgres_url: str, aiohttp_client: ClientFactory
) -> None:
    wiring = await start_app(app, postgres_url, database={"pool_size": 2, "pool_timeout": 0.5})
    holding = asyncio.Event()
    release = asyncio.Event()
    held = 0

    async def occupy() -> None:
        nonlocal held
        async with wiring.database.transaction():
            await wiring.database.execute("SELECT 1")
            held += 1
            if held == 2:
                holding.set()
            await release.wait()

    occupiers = [asyncio.create_task(occupy()) for _ in range(2)]
    try:
        await asyncio.wait_for(holding.wait(), timeout=10)  # both request connections taken
        client = await web_client(aiohttp_client)
        started = time.monotonic()
        resp = await client.post(URL, json={**BODY, "email": "busy@example.com"})
        took = time.monotonic() - started
        assert resp.status == 503 and resp.headers["Retry-After"]
        assert (await resp.json())["error"]["code"] == "database_unavailable"
        assert took < 5  # the pool timeout, not an endless wait
        # The relay's and the verifier's pools are their own: the status still answers.
        status = await client.get("/users/v1/events/verification")
        assert status.status == 200
    finally:
        release.set()
        await asyncio.gather(*occupiers)
        await stop_app(wiring)


@contextlib.asynccontextmanager
async def hash_queue_full(wiring: Wiring) -> AsyncIterator[None]:
    """Every hashing slot held (as by sign-ups hashing) for the block's length."""
    slots = wiring.metrics.hasher.slots
    release = asyncio.Event()

    async def hold() -> None:
        async with slots.slot(shed=False):
            await release.wait()

    async def full() -> bool:
        return slots.full

    holders = [asyncio.create_task(hold()) for _ in range(slots.workers)]
    try:
        await eventually(full, timeout=5, what="every hashing slot taken")
        yield
    finally:
        release.set()
        await asyncio.gather(*holders)


async def test_with_the_hash_queue_full_a_sign_up_is_refused_before_it_is_read(
    client: Client,
    wiring: Wiring,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(web.middleware, "_refusals", RefusalLog(logging.getLogger("users.http")))
    malformed = b'{"nombre": "Ana", "email": '  # a 400 once it is read
    async with hash_queue_full(wiring):
        with caplog.at_level(logging.DEBUG, logger="users.http"):
            answers = [
                await client.post(
                    URL,
                    data=malformed,
                    headers={"Content-Type": "application/json", "X-Request-ID": f"storm-{n}"},
                )
                for n in range(5)
            ]
        for n, resp in enumerate(answers):
            assert resp.status == 503
            assert resp.headers["Retry-After"] == "1"
            assert resp.headers["X-Request-ID"] == f"storm-{n}"
            assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
            assert await resp.json() == {
                "error": {
                    "code": "overloaded",
                    "message": "too many sign-ups are being processed; retry shortly",
                }
            }
        # One line for the storm, not one a request; the count is in the metrics.
        (line,) = [r.getMessage() for r in caplog.records if r.name == "users.http"]
        assert line.startswith("refusing sign-ups: overloaded")
        metrics = await (await client.get("/metrics")).text()
        assert 'user_create_rejected_total{channel="http",code="overloaded"} 5.0' in metrics
        assert (
            'http_requests_total{method="POST",route="/users/v1/users",status="503"} 5.0' in metrics
        )
    # With room again, the same request is read and judged.
    resp = await client.post(URL, data=malformed, headers={"Content-Type": "application/json"})
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "malformed_json"


async def test_refusals_past_the_burst_are_answered_at_the_pace_still_as_documented(
    client: Client, wiring: Wiring, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(web.middleware, "_pace", RefusalPace(per_second=10, burst=2))
    async with hash_queue_full(wiring):
        started = time.monotonic()
        # Two in the burst and one on time, then each its tenth of a second after the last.
        for _ in range(6):
            resp = await client.post(URL, json=BODY)
            assert resp.status == 503 and resp.headers["Retry-After"] == "1"
            assert (await resp.json())["error"]["code"] == "overloaded"
        assert time.monotonic() - started >= 0.3
