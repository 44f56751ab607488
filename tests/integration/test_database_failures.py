"""HTTP answers when PostgreSQL fails in the ways real deployments see: connections ended
by an administrator, a read-only node after failover, a COMMIT whose answer is lost, a
schema that is not there. Real PostgreSQL, real SQLite, Faust's aiohttp app in process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest

from streamapp.app import app
from tests.support.services import POSTGRES_URL
from tests.support.tcp_proxy import TcpProxy, Trap
from tests.support.waiting import eventually
from tests.support.web import Client, ClientFactory, start_app, stop_app, web_client
from users_service.adapters.storage.migrations import migrate

URL = "/users/v1/users"
BODY = {"nombre": "Ana", "email": "ana@example.com", "password": "s3cret-pass"}


def quoted_database_name(url: str) -> str:
    """The database of `url` (TEST_POSTGRES_URL, any name), as an SQL identifier."""
    name = urlsplit(url).path.lstrip("/")
    assert name, f"no database name in {url}"
    return '"' + name.replace('"', '""') + '"'


async def stored_users() -> int:
    conn = await asyncpg.connect(POSTGRES_URL)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM users"))
    finally:
        await conn.close()


async def admin(sql: str) -> None:
    conn = await asyncpg.connect(POSTGRES_URL)
    try:
        # This session must be able to write even when the test made the database read-only.
        await conn.execute("SET default_transaction_read_only = off")
        await conn.execute(sql)
    finally:
        await conn.close()


def assert_unavailable(status: int, headers: dict[str, str], body: dict[str, object]) -> None:
    assert status == 503, body
    assert headers.get("Retry-After")
    assert body["error"]["code"] == "database_unavailable"  # type: ignore[index]


@pytest.fixture
async def proxied(
    postgres_url: str, aiohttp_client: ClientFactory
) -> AsyncIterator[tuple[Client, TcpProxy]]:
    """The app on PostgreSQL through a proxy the test can cut or arm."""
    proxy = TcpProxy("127.0.0.1", 5432)
    await proxy.start()
    # Without TLS, so that the proxy can see (and cut at) the COMMIT.
    url = POSTGRES_URL.replace(":5432/", f":{proxy.port}/") + "?ssl=false"
    wiring = await start_app(app, url)
    try:
        yield await web_client(aiohttp_client), proxy
    finally:
        await proxy.cut()
        await stop_app(wiring)


async def backend_waiting_on_a_lock() -> int | None:
    """The pid of a session of this database waiting on a lock, if one is."""
    conn = await asyncpg.connect(POSTGRES_URL)  # not the blocker's: its snapshot is frozen
    try:
        pid = await conn.fetchval(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' LIMIT 1"
        )
    finally:
        await conn.close()
    return int(pid) if pid is not None else None


async def test_connections_ended_by_an_administrator_are_503_then_it_recovers(
    postgres_url: str, aiohttp_client: ClientFactory
) -> None:
    wiring = await start_app(app, postgres_url)
    try:
        client = await web_client(aiohttp_client)
        assert (await client.post(URL, json=BODY)).status == 201  # the pool holds a connection
        # The creation's session is ended while it works: held on a lock, then terminated.
        # (Ending idle sessions instead let the pool notice first and reconnect, and the
        # answer was a 201 or a 503 as timing had it.)
        blocker = await asyncpg.connect(POSTGRES_URL)
        try:
            transaction = blocker.transaction()
            await transaction.start()
            await blocker.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
            creation = asyncio.ensure_future(
                client.post(URL, json={**BODY, "email": "bea@example.com"})
            )
            pid = await eventually(
                backend_waiting_on_a_lock, timeout=10, what="the creation waiting on the lock"
            )
            await admin(f"SELECT pg_terminate_backend({pid})")
            resp = await creation
            assert_unavailable(resp.status, dict(resp.headers), await resp.json())
        finally:
            await blocker.close()
        resp = await client.post(URL, json={**BODY, "email": "cris@example.com"})
        assert resp.status == 201
        assert await stored_users() == 2  # ana and cris; bea's creation was not written
    finally:
        await stop_app(wiring)


async def test_a_read_only_node_after_failover_is_503_not_500(
    postgres_url: str, aiohttp_client: ClientFactory
) -> None:
    await migrate(postgres_url)  # while it can still write
    database = quoted_database_name(postgres_url)
    await admin(f"ALTER DATABASE {database} SET default_transaction_read_only = on")
    try:
        wiring = await start_app(app, postgres_url)
        try:
            client = await web_client(aiohttp_client)
            resp = await client.post(URL, json=BODY)
            assert_unavailable(resp.status, dict(resp.headers), await resp.json())
        finally:
            await stop_app(wiring)
    finally:
        await admin(f"ALTER DATABASE {database} RESET default_transaction_read_only")
    assert await stored_users() == 0


# A creation without an Idempotency-Key commits as one statement (the user and its event
# chained, `storage.writes`): its commit is the message that binds the event's values, the
# first to carry its type (the statement's text, sent before, has only placeholders).
CREATION_COMMIT = b"USER_CREATED"


async def test_a_commit_that_happened_but_whose_answer_was_lost_is_a_201(
    proxied: tuple[Client, TcpProxy],
) -> None:
    client, proxy = proxied
    trap = proxy.arm(Trap(CREATION_COMMIT, forward=True))
    resp = await client.post(URL, json=BODY)
    assert trap.sprung
    assert resp.status == 201, await resp.text()  # the service looked, and found the user
    assert await stored_users() == 1


async def test_a_commit_that_never_reached_the_server_is_503_and_nothing_was_written(
    proxied: tuple[Client, TcpProxy],
) -> None:
    client, proxy = proxied
    trap = proxy.arm(Trap(CREATION_COMMIT, forward=False))
    resp = await client.post(URL, json=BODY)
    assert trap.sprung
    assert_unavailable(resp.status, dict(resp.headers), await resp.json())
    assert await stored_users() == 0


async def test_a_commit_whose_outcome_cannot_be_learned_says_so_and_a_keyed_retry_is_safe(
    proxied: tuple[Client, TcpProxy], postgres_url: str, aiohttp_client: ClientFactory
) -> None:
    client, proxy = proxied
    headers = {"Idempotency-Key": "signup-lost-commit"}
    # The COMMIT of the creating transaction: with a key, its writes (a DELETE of an expired
    # key then the INSERT that must see it) run in BEGIN … COMMIT.
    proxy.arm(
        Trap(b"COMMIT", forward=True, stop_listening=True, after=b"INSERT INTO idempotency_keys")
    )
    resp = await client.post(URL, json=BODY, headers=headers)
    assert resp.status == 503 and resp.headers.get("Retry-After")
    body = await resp.json()
    assert body["error"]["code"] == "outcome_unknown"
    assert "Idempotency-Key" in body["error"]["message"]

    async def committed() -> bool:
        return await stored_users() == 1

    # It did commit: the server got the COMMIT, only its answer was lost.
    await eventually(committed, timeout=10, what="the forwarded COMMIT applied")

    wiring = await start_app(app, postgres_url)  # the database is reachable again
    try:
        retry = await (await web_client(aiohttp_client)).post(URL, json=BODY, headers=headers)
        assert retry.status == 201  # the first request's user, not a 409
        assert await stored_users() == 1
    finally:
        await stop_app(wiring)


async def test_a_missing_table_is_a_bug_answered_500_in_json_not_503_forever(
    tmp_path: Path, aiohttp_client: ClientFactory
) -> None:
    wiring = await start_app(app, f"sqlite:///{tmp_path}/users.sqlite3")
    try:
        await wiring.database.execute("DROP TABLE users")
        resp = await (await web_client(aiohttp_client)).post(URL, json=BODY)
        assert resp.status == 500
        assert (await resp.json())["error"]["code"] == "internal_error"
    finally:
        await stop_app(wiring)
