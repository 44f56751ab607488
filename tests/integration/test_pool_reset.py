"""What a PostgreSQL connection carries back into the pool (`database.keep_session`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import databases
import pytest
import sqlalchemy as sa

from users_service.adapters.storage import schema
from users_service.adapters.storage.database import make_database
from users_service.adapters.storage.migrations import migrate


@pytest.fixture
async def one_connection(postgres_url: str) -> AsyncIterator[databases.Database]:
    """A pool of a single connection, so that each acquisition gets the one released."""
    await migrate(postgres_url)
    db = make_database(postgres_url, max_size=1)
    await db.connect()
    try:
        yield db
    finally:
        await db.disconnect()


async def test_a_transaction_left_open_is_rolled_back_on_release(
    one_connection: databases.Database,
) -> None:
    async with one_connection.connection() as connection:
        raw = connection.raw_connection
        await raw.execute("BEGIN")  # and never committed: a task cancelled mid-way, say
        await raw.execute(
            "INSERT INTO users (id, nombre, email, password_hash, created_at)"
            " VALUES ('u1', 'Ana', 'ana@example.com', 'h', now())"
        )
    async with one_connection.connection() as connection:
        raw = connection.raw_connection
        assert not raw.is_in_transaction()
        assert await raw.fetchval("SELECT count(*) FROM users") == 0
    assert await one_connection.fetch_val(sa.select(sa.func.count()).select_from(schema.users)) == 0


async def test_a_release_sends_no_reset_query(one_connection: databases.Database) -> None:
    # asyncpg's default reset would run RESET ALL (one more round trip per release); the
    # pool's connections set nothing, so a setting surviving shows that no reset ran.
    async with one_connection.connection() as connection:
        await connection.raw_connection.execute("SET application_name = 'kept'")
    assert await one_connection.fetch_val("SHOW application_name") == "kept"
