"""Overload over HTTP, in process on a real database: past the hashing queue, sign-ups are
refused at once with 503 and Retry-After, never queued without limit, never a 500, and
every 201 is a stored user."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import sqlalchemy as sa

from streamapp.app import app
from streamapp.wiring import Wiring
from tests.support.web import Client, ClientFactory, start_app, stop_app, web_client
from users_service.adapters.storage import schema

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
