"""Schema migrations with Alembic, run as a step of their own on a synchronous driver.

`upgrade_to_head` opens one connection, takes PostgreSQL's advisory lock inside one
transaction (DDL is transactional there), and upgrades: workers that start together
migrate one after another. A database built by the pre-Alembic migrations (their version
5) is stamped at the baseline revision first, so its rows stay where they are.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.pool import NullPool

from users_service.adapters.storage.database import (
    is_sqlite,
    loopback_without_tls,
    normalize_url,
)
from users_service.adapters.storage.migration_process import (
    EXIT_REFUSED,
    EXIT_UNAVAILABLE,
    MigrationError,
)

log = logging.getLogger(__name__)

SCRIPTS = Path(__file__).resolve().parent / "alembic"
# Any constant works; it only has to be the same for every worker of this service.
MIGRATION_LOCK = 0x7573657273  # "users"
# The pre-Alembic migrations' last version, and the revision that reproduces it.
LEGACY_VERSION = 5
BASELINE_REVISION = "0001"


def sync_url(url: str) -> str:
    """The URL for SQLAlchemy's synchronous engine: psycopg for PostgreSQL, stdlib sqlite3.

    `databases` (asyncpg) reads `?ssl=true|false`; libpq's name for it is `sslmode`."""
    url = normalize_url(url)
    if not url.startswith("postgresql://"):
        return url
    loopback = loopback_without_tls(url)
    parsed = make_url(_hosts_in_query("postgresql+psycopg://" + url[len("postgresql://") :]))
    if loopback:  # as the service's own pools: no TLS on loopback unless asked for
        parsed = parsed.update_query_dict({"sslmode": "disable"})
    ssl = parsed.query.get("ssl")
    if isinstance(ssl, str):
        sslmode = "disable" if ssl.lower() == "false" else "require"
        parsed = parsed.difference_update_query(["ssl"]).update_query_dict({"sslmode": sslmode})
    return parsed.render_as_string(hide_password=False)


def _hosts_in_query(url: str) -> str:
    """A multi-host URL (`…@a:5432,b:5433/db`) in the form SQLAlchemy reads for psycopg
    (`…@/db?host=a:5432&host=b:5433`); its parser takes one host and one port only."""
    parts = urlsplit(url)
    userinfo, at, hosts = parts.netloc.rpartition("@")
    if "," not in hosts:
        return url
    query = [("host", h) for h in hosts.split(",")] + parse_qsl(parts.query)
    return urlunsplit(parts._replace(netloc=f"{userinfo}{at}", query=urlencode(query)))


def _engine(url: str) -> sa.Engine:
    # A host that does not answer fails the connection in seconds, not minutes. No
    # prepared statements (psycopg prepares a statement run five times): behind a pooler in
    # transaction mode one would outlive its transaction; migrations gain nothing from them.
    sync = sync_url(url)
    connect_args: dict[str, Any] = (
        {"connect_timeout": 5, "prepare_threshold": None} if sync.startswith("postgresql") else {}
    )
    return sa.create_engine(sync, poolclass=NullPool, connect_args=connect_args)


def alembic_config(connection: Connection) -> Config:
    """Alembic's configuration, pointed at this package's scripts and `connection`."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    config.attributes["connection"] = connection
    return config


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at (None when Alembic has never run on it)."""
    return MigrationContext.configure(connection).get_current_revision()


def _stamp_legacy(connection: Connection, config: Config) -> None:
    tables = set(sa.inspect(connection).get_table_names())
    if "alembic_version" in tables or "schema_migrations" not in tables:
        return
    version = connection.execute(sa.text("SELECT max(version) FROM schema_migrations")).scalar()
    if version != LEGACY_VERSION:
        raise MigrationError(
            f"the database is at the old migrations' version {version}; only version "
            f"{LEGACY_VERSION} can be taken over (start the previous release once to get there)"
        )
    command.stamp(config, BASELINE_REVISION)
    log.info("database built by the old migrations (version %d): stamped", LEGACY_VERSION)


def upgrade_to_head(url: str) -> tuple[str | None, str | None]:
    """Migrate the database at `url` to the head revision; return (before, after)."""
    sqlite = is_sqlite(normalize_url(url))
    engine = _engine(url)
    try:
        if sqlite:
            with engine.connect() as connection:
                # WAL lets readers run beside the single writer; the mode is persistent,
                # and SQLite refuses to change it inside a transaction.
                connection.exec_driver_sql("PRAGMA journal_mode=WAL")
        with engine.begin() as connection:
            if not sqlite:
                connection.execute(sa.text(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
            config = alembic_config(connection)
            _stamp_legacy(connection, config)
            before = current_revision(connection)
            command.upgrade(config, "head")
            after = current_revision(connection)
    finally:
        engine.dispose()
    if before != after:
        log.info("schema migrated from revision %s to %s", before, after)
    return before, after


async def migrate(url: str) -> tuple[str | None, str | None]:
    """`upgrade_to_head` in a worker thread, so the event loop keeps serving."""
    return await asyncio.to_thread(upgrade_to_head, url)


def new_revision(url: str, message: str) -> str:
    """Write a new revision file, autogenerated by comparing `url`'s schema (at head) with
    today's tables; return its path. Review it, and freeze it once released."""
    engine = _engine(url)
    try:
        with engine.begin() as connection:
            config = alembic_config(connection)
            existing = sorted(p.name for p in (SCRIPTS / "versions").glob("[0-9]" * 4 + "_*.py"))
            number = f"{int(existing[-1][:4]) + 1:04d}" if existing else "0001"
            script = command.revision(config, message, autogenerate=True, rev_id=number)
    finally:
        engine.dispose()
    scripts = script if isinstance(script, list) else [script]
    return str(scripts[0].path) if scripts and scripts[0] is not None else ""


def schema_revisions(url: str) -> tuple[str | None, str]:
    """(the database's revision, the code's head revision), without changing anything."""
    from alembic.script import ScriptDirectory

    engine = _engine(url)
    try:
        with engine.connect() as connection:
            config = alembic_config(connection)
            head = ScriptDirectory.from_config(config).get_current_head()
            assert head is not None
            return current_revision(connection), head
    finally:
        engine.dispose()


def main(argv: list[str]) -> int:
    """`python -m users_service.adapters.storage.migrations upgrade|revisions`, the URL
    on stdin: one JSON line on stdout; exit 3 when the database does not answer, 1 when it
    cannot be migrated, with the reason as the last line on stderr (migration_process)."""
    from users_service.adapters.storage.errors import is_unavailable

    url = sys.stdin.read().strip()
    try:
        if argv == ["upgrade"]:
            before, after = upgrade_to_head(url)
            print(json.dumps({"before": before, "after": after}))
        elif argv == ["revisions"]:
            current, head = schema_revisions(url)
            print(json.dumps({"current": current, "head": head}))
        else:
            print("usage: migrations upgrade|revisions  (the URL on stdin)", file=sys.stderr)
            return 2
    except MigrationError as exc:
        print(exc, file=sys.stderr)
        return EXIT_REFUSED
    except Exception as exc:
        if is_unavailable(exc):
            print(f"the database does not answer ({type(exc).__name__})", file=sys.stderr)
            return EXIT_UNAVAILABLE
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
