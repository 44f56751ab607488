"""Alembic migrations on both real databases: head equals today's tables, a database
built by the old migrations upgrades without losing a row, concurrent upgrades serialize."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from users_service.adapters.storage.migration_process import MigrationError
from users_service.adapters.storage.migrations import (
    current_revision,
    migrate,
    sync_url,
    upgrade_to_head,
)
from users_service.adapters.storage.schema import metadata
from users_service.domain.sharding import key_hash

LEGACY = Path(__file__).resolve().parent / "legacy"
HEAD = "0006"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    """A synchronous engine on the test's empty database."""
    created = sa.create_engine(sync_url(database_url), poolclass=sa.pool.NullPool)
    yield created
    created.dispose()


def schema_differences(engine: sa.Engine) -> list[Any]:
    with engine.connect() as connection:
        return list(compare_metadata(MigrationContext.configure(connection), metadata))


def test_an_empty_database_migrated_to_head_matches_the_tables(
    database_url: str, engine: sa.Engine
) -> None:
    assert upgrade_to_head(database_url) == (None, HEAD)
    assert schema_differences(engine) == []
    assert upgrade_to_head(database_url) == (HEAD, HEAD)  # a second run changes nothing


def build_legacy_database(engine: sa.Engine) -> dict[str, int]:
    """The old migrations' version-5 schema with rows in every table; row counts by table."""
    ddl = (LEGACY / f"schema_v5_{engine.dialect.name}.sql").read_text()
    rows: dict[str, list[dict[str, Any]]] = {
        "schema_migrations": [
            {"version": v, "name": f"step {v}", "applied_at": NOW} for v in range(1, 6)
        ],
        "users": [
            {
                "id": f"0190a0b0-0000-7000-8000-00000000000{n}",
                "nombre": f"User {n}",
                "email": f"user{n}@example.com",
                "password_hash": "$2b$04$" + "h" * 53,
                "created_at": NOW,
            }
            for n in range(3)
        ],
        "outbox": [
            {
                "event_id": f"0190a0b0-0000-7000-8000-0000000000e{n}",
                "aggregate_type": "user",
                "aggregate_id": f"0190a0b0-0000-7000-8000-00000000000{n}",
                "event_type": "USER_CREATED",
                "topic": "user.created",
                "message_key": f"0190a0b0-0000-7000-8000-00000000000{n}",
                "payload": '{"eventType":"USER_CREATED"}',
                "headers": "{}",
                "created_at": NOW,
                "published_at": NOW if n else None,
                "attempts": n,
            }
            for n in range(3)
        ],
        "outbox_relay_leases": [{"name": "outbox-relay", "holder": "w1", "expires_at": NOW}],
        "event_verifications": [
            {"event_id": "e1", "aggregate_id": "u1", "outcome": "verified", "verified_at": NOW}
        ],
        "processed_commands": [
            {"command_id": "c1", "outcome": "created", "user_id": "u1", "processed_at": NOW}
        ],
        "idempotency_keys": [
            {
                "key": "k1",
                "fingerprint": "f" * 64,
                "user_id": "u1",
                "created_at": NOW,
                "expires_at": NOW,
            }
        ],
    }
    with engine.begin() as connection:
        for statement in filter(str.strip, ddl.split(";")):
            connection.exec_driver_sql(statement)
        reflected = sa.MetaData()
        reflected.reflect(connection)
        for table, values in rows.items():
            connection.execute(reflected.tables[table].insert(), values)
    return {table: len(values) for table, values in rows.items()}


def test_a_database_from_the_old_migrations_upgrades_without_losing_rows(
    database_url: str, engine: sa.Engine
) -> None:
    counts = build_legacy_database(engine)
    with engine.connect() as connection:
        columns = {
            table: [c["name"] for c in sa.inspect(connection).get_columns(table)]
            for table in counts
            if table != "schema_migrations"
        }
        before = {
            table: connection.execute(
                sa.text(f"SELECT {', '.join(names)} FROM {table} ORDER BY 1")
            ).all()
            for table, names in columns.items()
        }

    assert upgrade_to_head(database_url) == ("0001", HEAD)

    with engine.connect() as connection:
        assert current_revision(connection) == HEAD
        tables = set(sa.inspect(connection).get_table_names())
        assert "schema_migrations" not in tables  # replaced by alembic_version
        for table, rows in before.items():
            # Every row, every column it had; later revisions only add columns.
            after = connection.execute(
                sa.text(f"SELECT {', '.join(columns[table])} FROM {table} ORDER BY 1")
            ).all()
            assert after == rows and len(after) == counts[table], table
        # Pending rows got their key's hash (their shard); published ones are never read.
        hashes = connection.execute(
            sa.text("SELECT message_key, key_hash, published_at FROM outbox ORDER BY id")
        ).all()
    assert (
        [h for key, h, published in hashes if published is None]
        == [key_hash(key) for key, _, published in hashes if published is None]
        != [0]
    )
    assert {h for _, h, published in hashes if published is not None} == {0}
    assert schema_differences(engine) == []


def test_an_older_pre_alembic_version_is_refused_with_a_clear_reason(
    database_url: str, engine: sa.Engine
) -> None:
    build_legacy_database(engine)
    with engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM schema_migrations WHERE version = 5"))
    with pytest.raises(MigrationError, match="version 4"):
        upgrade_to_head(database_url)


async def test_concurrent_upgrades_on_postgres_serialize(postgres_url: str) -> None:
    results = await asyncio.gather(*(migrate(postgres_url) for _ in range(3)))
    # The advisory lock makes them take turns: one migrates, the others find it done.
    assert Counter(results) == Counter({(None, HEAD): 1, (HEAD, HEAD): 2})


async def test_the_worker_migrates_in_a_child_process_and_keeps_alembic_out_of_its_own(
    database_url: str,
) -> None:
    import asyncio
    import subprocess
    import sys

    from users_service.adapters.storage.migration_process import (
        migrate_in_child,
        revisions_in_child,
    )

    _, after = await migrate_in_child(database_url)
    assert after is not None and await revisions_in_child(database_url) == (after, after)
    assert await migrate_in_child(database_url) == (after, after)  # idempotent
    # What a worker process imports (its app, agents and views) loads neither Alembic
    # nor the synchronous driver: about 20 MiB a worker does not carry for its whole life.
    probe = (
        "import sys, streamapp.cli, streamapp.app, agents.commands, agents.verifier, web.users;"
        "print(sorted(m for m in ('alembic', 'psycopg', 'mako') if m in sys.modules))"
    )
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    loaded = done.stdout.strip()
    assert loaded == "[]"


async def test_a_database_that_does_not_answer_is_unavailable_not_an_error() -> None:
    from tests.support.services import free_port
    from users_service.adapters.storage.migration_process import revisions_in_child
    from users_service.domain.errors import StorageUnavailable

    with pytest.raises(StorageUnavailable):
        await revisions_in_child(f"postgresql://u:secret@127.0.0.1:{free_port()}/db")
