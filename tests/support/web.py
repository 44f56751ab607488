"""The shared app's HTTP server over fresh collaborators, for in-process web tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp.test_utils import TestClient

from streamapp.app import UsersApp, app
from streamapp.wiring import Wiring, wire
from users_service.adapters.jwt_tokens import mint_token
from users_service.adapters.storage.migrations import migrate
from users_service.domain.access import SCOPES

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]
Client = TestClient[Any, Any]
# The tests' HS256 secret; ALL_SCOPES is a token that may do everything.
TEST_JWT_SECRET = "test-secret-of-at-least-thirty-two-bytes"
ALL_SCOPES = mint_token(TEST_JWT_SECRET, scopes=list(SCOPES), ttl=24 * 3600)


async def start_app(the_app: UsersApp, database_url: str, **settings: dict[str, Any]) -> Wiring:
    """Wire the shared app anew on `database_url` (bcrypt at cost 4), migrated and
    connected; Kafka stays off. `settings`: changes by group, `auth={"leeway": 5}`."""
    changes: dict[str, dict[str, Any]] = {
        "auth": {"bcrypt_rounds": 4, "jwt_secret": TEST_JWT_SECRET},
        "database": {"url": database_url},
    }
    for group, fields in settings.items():
        changes.setdefault(group, {}).update(fields)
    # From the app's own settings, not the last test's: an override (a JWKS URL, a
    # switched-off secret) must not leak into the next test that does not repeat it.
    pristine = the_app._settings
    wiring = wire(the_app, pristine.replaced(**changes))
    the_app.provide(wiring)
    await migrate(database_url)
    for pool in wiring.database_service.pools:
        await pool.connect()
    return wiring


async def stop_app(wiring: Wiring) -> None:
    """Disconnect every pool `start_app` connected."""
    for pool in wiring.database_service.pools:
        await pool.disconnect()


async def web_client(aiohttp_client: ClientFactory, token: str | None = ALL_SCOPES) -> Client:
    """A test client on Faust's own aiohttp application, views found by autodiscovery,
    sending `token` as its bearer (None: no Authorization header)."""
    app.discover()
    app.web.init_server()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await aiohttp_client(app.web.web_app, headers=headers)  # type: ignore[attr-defined]
