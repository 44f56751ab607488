"""Against the real PgBouncer (Debian's 1.18): what its transaction mode does to asyncpg's
statement cache, the start-up probe that finds it, and multi-host URLs on PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from tests.support.services import (
    PGBOUNCER_URL,
    POSTGRES_URL,
    ROOT,
    free_port,
    require_pgbouncer,
)
from users_service.adapters.storage.database import make_database
from users_service.adapters.storage.migrations import schema_revisions, upgrade_to_head
from users_service.adapters.storage.pooler import (
    PoolerMismatch,
    check_pooler,
    shares_server_connections,
)


@pytest.fixture
def pgbouncer() -> str:
    require_pgbouncer()
    return PGBOUNCER_URL


@pytest.fixture
def session_pgbouncer() -> Iterator[str]:
    """A second PgBouncer of the script, in session mode, on a port of its own (its files
    where the postgres user can reach them, unlike pytest's private tmp_path)."""
    port = free_port()
    where = ROOT / ".cache" / f"pgbouncer-session-{port}"
    env = {
        **os.environ,
        "PGBOUNCER_PORT": str(port),
        "PGBOUNCER_MODE": "session",
        "PGBOUNCER_DIR": str(where),
    }
    script = str(ROOT / "ops/postgres/pgbouncer.sh")
    subprocess.run([script, "up"], check=True, env=env, timeout=60)
    try:
        yield POSTGRES_URL.replace("@127.0.0.1:5432/", f"@127.0.0.1:{port}/")
    finally:
        subprocess.run([script, "down"], check=True, env=env, timeout=60)
        shutil.rmtree(where, ignore_errors=True)


async def failures(url: str, pooler: str, count: int = 200) -> int:
    """How many of `count` concurrent little transactions fail on a pool for `url`."""
    db = make_database(url, max_size=8, pooler=pooler)
    await db.connect()
    failed = 0

    async def one(n: int) -> None:
        nonlocal failed
        try:
            async with db.transaction():
                await db.fetch_val(f"SELECT {n % 7}")
            await db.fetch_all("SELECT relname FROM pg_class LIMIT 2")
        except Exception:
            failed += 1

    try:
        await asyncio.gather(*(one(n) for n in range(count)))
    finally:
        await db.disconnect()
    return failed


async def test_the_statement_cache_breaks_behind_a_transaction_pooler_and_off_it_works(
    pgbouncer: str, postgres_url: str
) -> None:
    assert await failures(pgbouncer, "none") > 0  # "prepared statement ... does not exist"
    assert await failures(pgbouncer, "transaction") == 0
    assert await failures(postgres_url, "none") == 0


async def test_the_probe_finds_a_transaction_pooler_and_nothing_else(
    pgbouncer: str, session_pgbouncer: str, postgres_url: str
) -> None:
    assert await shares_server_connections(pgbouncer)
    assert not await shares_server_connections(postgres_url)
    assert not await shares_server_connections(session_pgbouncer)
    with pytest.raises(PoolerMismatch, match="set DATABASE_POOLER=transaction"):
        await check_pooler(pgbouncer, "none")
    await check_pooler(pgbouncer, "transaction")
    await check_pooler(postgres_url, "none")


async def test_migrations_run_through_a_transaction_pooler(
    pgbouncer: str, postgres_url: str
) -> None:
    before, after = await asyncio.to_thread(upgrade_to_head, pgbouncer)
    assert before is None and after is not None
    assert await asyncio.to_thread(schema_revisions, pgbouncer) == (after, after)


async def test_a_multi_host_url_finds_the_host_that_answers_as_primary(postgres_url: str) -> None:
    dead = free_port()  # nothing listens there
    url = (
        postgres_url.replace("@127.0.0.1:5432/", f"@127.0.0.1:{dead},127.0.0.1:5432/")
        + "?target_session_attrs=read-write"
    )
    _, after = await asyncio.to_thread(upgrade_to_head, url)
    assert after is not None
    db = make_database(url, max_size=2)
    await db.connect()
    try:
        assert await db.fetch_val("SELECT current_setting('port')") == "5432"
    finally:
        await db.disconnect()
