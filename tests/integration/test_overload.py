"""Overload over HTTP, in process on a real database: past the hashing queue, sign-ups are
refused at once with 503 and Retry-After, never queued without limit, never a 500, and
every 201 is a stored user."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import sqlalchemy as sa

from streamapp.wiring import Wiring
from tests.support.web import Client
from users_service.adapters.storage import schema

URL = "/users/v1/users"


@pytest.fixture
def app_settings() -> dict[str, Any]:
    """One hashing thread, nothing waiting, and a cost that takes tens of milliseconds."""
    return {"bcrypt_rounds": 10, "hash_workers": 1, "hash_queue": 0}


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
