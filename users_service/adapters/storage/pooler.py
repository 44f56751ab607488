"""Whether a PostgreSQL URL leads to a pooler in transaction mode, found out at start.

Behind PgBouncer's `pool_mode = transaction` (or `statement`), a client connection has a
server connection only while a transaction runs; between two transactions, another
client may have it. Without DATABASE_POOLER=transaction the pools cache named prepared
statements per connection and most requests would fail with "prepared statement ... does
not exist", as 500s. The probe finds that before the web server opens.

It asks for the server process of two client connections: PostgreSQL itself (or a
pooler in session mode) gives each client connection one server process for its whole
life, and never the same to two at once. A transaction-mode pooler hands the process one
client just used to the next one that asks (PgBouncer reuses the most recently freed
server connection), and gives a client another process once its own is taken.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from users_service.adapters.storage.database import (
    TRANSACTION_POOLERS,
    asyncpg_connect_options,
    loopback_without_tls,
)

ROUNDS = 3


class PoolerMismatch(RuntimeError):
    """The URL leads to a transaction-mode pooler and the service was not told so."""


def _options(url: str) -> dict[str, Any]:
    options = asyncpg_connect_options(url)
    options.update(statement_cache_size=0, timeout=5, command_timeout=10)
    if loopback_without_tls(url):
        options["ssl"] = False
    return options


async def shares_server_connections(url: str) -> bool:
    """True when client connections to `url` do not keep their own server process: a
    pooler in transaction (or statement) mode is between them and PostgreSQL."""
    first = await asyncpg.connect(**_options(url))
    try:
        second = await asyncpg.connect(**_options(url))
        try:
            for _ in range(ROUNDS):
                before = await first.fetchval("SELECT pg_backend_pid()")
                async with second.transaction():
                    # `second` holds its server connection while `first` asks again.
                    held = await second.fetchval("SELECT pg_backend_pid()")
                    after = await first.fetchval("SELECT pg_backend_pid()")
                if held == before or after != before:
                    return True
        finally:
            await second.close()
    finally:
        await first.close()
    return False


async def check_pooler(url: str, pooler: str) -> None:
    """Raise PoolerMismatch when `url` leads to a transaction-mode pooler and `pooler`
    (DATABASE_POOLER) does not say so; the message says what to set."""
    if pooler in TRANSACTION_POOLERS:
        return
    if await shares_server_connections(url):
        raise PoolerMismatch(
            "DATABASE_URL leads to a connection pooler in transaction mode (client "
            "connections share PostgreSQL server connections, as PgBouncer's pool_mode = "
            "transaction does): set DATABASE_POOLER=transaction (or transaction-prepared "
            "for PgBouncer >= 1.21 with max_prepared_statements), or point DATABASE_URL at "
            "PostgreSQL itself or at a pooler in session mode"
        )
