"""The shared app's HTTP server over a fresh container, for in-process web tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from aiohttp.test_utils import TestClient

from bootstrap import Container, build_container
from storage.migrations import migrate
from streamapp.app import UsersApp, app

ClientFactory = Callable[[Any], Awaitable[TestClient[Any, Any]]]


async def start_container(the_app: UsersApp, database_url: str, **settings: Any) -> Container:
    """A fresh container on `database_url` for the shared app; Kafka stays off."""
    the_app._container = build_container(
        the_app,
        replace(the_app.settings, database_url=database_url, bcrypt_rounds=4, **settings),
    )
    container = the_app.container
    await container.database.connect()
    await migrate(container.database)
    return container


async def web_client(aiohttp_client: ClientFactory) -> TestClient[Any, Any]:
    app.discover()
    app.web.init_server()
    return await aiohttp_client(app.web.web_app)  # type: ignore[attr-defined]
