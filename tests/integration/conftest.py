"""Integration fixtures: the app wired on a real database, and its HTTP test client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from streamapp.app import app
from streamapp.wiring import Wiring
from tests.support.web import Client, ClientFactory, start_app, stop_app, web_client


@pytest.fixture
def app_settings() -> dict[str, Any]:
    """Settings that differ from the app's own in these tests; a module may override it."""
    return {}


@pytest.fixture
async def wiring(database_url: str, app_settings: dict[str, Any]) -> AsyncIterator[Wiring]:
    """The app's collaborators on a fresh, migrated database."""
    wired = await start_app(app, database_url, **app_settings)
    try:
        yield wired
    finally:
        await stop_app(wired)


@pytest.fixture
async def client(wiring: Wiring, aiohttp_client: ClientFactory) -> Client:
    """An HTTP client on Faust's aiohttp app, served by `wiring`."""
    return await web_client(aiohttp_client)
