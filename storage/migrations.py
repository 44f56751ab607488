"""Versioned schema steps, applied at start-up; safe to run twice and from two workers at once."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import databases
import sqlalchemy as sa
from sqlalchemy.schema import CreateIndex, CreateTable

from storage import schema
from storage.database import dialect_for, is_sqlite

log = logging.getLogger(__name__)

# Any constant works; it only has to be the same for every worker of this service.
_PG_MIGRATION_LOCK = 0x7573657273  # "users"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    tables: Sequence[sa.Table]


MIGRATIONS: Sequence[Migration] = (
    Migration(1, "users and outbox", (schema.users, schema.outbox, schema.relay_leases)),
    Migration(2, "event verifications", (schema.event_verifications,)),
    # Re-running a table's step creates the indexes added to it since (IF NOT EXISTS).
    Migration(3, "index of claimed outbox rows", (schema.outbox,)),
    Migration(4, "processed commands", (schema.processed_commands,)),
    Migration(5, "idempotency keys", (schema.idempotency_keys,)),
)


def _ddl(database: databases.Database, table: sa.Table) -> list[str]:
    dialect = dialect_for(str(database.url))
    statements = [str(CreateTable(table, if_not_exists=True).compile(dialect=dialect))]
    statements += [
        str(CreateIndex(index, if_not_exists=True).compile(dialect=dialect))
        for index in sorted(table.indexes, key=lambda i: str(i.name))
    ]
    return statements


async def migrate(database: databases.Database) -> list[int]:
    """Apply the migrations not yet recorded in `schema_migrations`; return their versions."""
    sqlite = is_sqlite(str(database.url))
    if sqlite:
        # WAL lets readers run beside the single writer; the setting is persistent.
        await database.execute("PRAGMA journal_mode=WAL")
    applied: list[int] = []
    async with database.transaction():
        if not sqlite:
            # Serializes concurrent starts (even CREATE TABLE IF NOT EXISTS races on
            # PostgreSQL's catalog); released at commit. DDL is transactional there.
            await database.execute(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
        for statement in _ddl(database, schema.schema_migrations):
            await database.execute(statement)
        done = {
            row["version"]
            for row in await database.fetch_all(sa.select(schema.schema_migrations.c.version))
        }
        for migration in MIGRATIONS:
            if migration.version in done:
                continue
            for table in migration.tables:
                for statement in _ddl(database, table):
                    await database.execute(statement)
            await database.execute(
                schema.schema_migrations.insert().values(
                    version=migration.version,
                    name=migration.name,
                    applied_at=datetime.now(UTC),
                )
            )
            applied.append(migration.version)
    if applied:
        log.info("schema migrated to version %d (applied %s)", MIGRATIONS[-1].version, applied)
    return applied
