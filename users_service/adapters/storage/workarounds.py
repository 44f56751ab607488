"""What the storage adapters rely on of `databases` beyond its public API.

Here, not in streamapp.workarounds, because the adapters use them and nothing of
users_service may import the edges (import-linter).

- `query_lock`: a statement sent straight to asyncpg (statements.Prepared) must hold the
  lock `databases` holds around each of its own queries on that connection, or two tasks
  sharing it would interleave on asyncpg's protocol ("another operation is in progress").
  Upstream: encode/databases#81 (concurrent queries on one connection; the lock came with
  #108) and #176 (the lock is not exposed; open).
- `forget_task_connection`: after a connection broke, `databases` still hands the task its
  wrapper of a connection the pool has taken back, and the next query fails with
  "connection has been released back to the pool". No public call drops it; no upstream
  issue found.

Written for databases 0.9.0 (asyncpg 0.32.0); tests/unit/test_workaround_canaries.py holds
that `Connection._query_lock` is the lock `databases`' own queries take and that
`Database._connection` is the task's connection and may be set to None.
"""

from __future__ import annotations

import asyncio

import databases


def query_lock(connection: databases.core.Connection) -> asyncio.Lock:
    """The lock `databases` takes around every query on `connection`."""
    lock: asyncio.Lock = connection._query_lock
    return lock


def forget_task_connection(database: databases.Database) -> None:
    """Drop the current task's connection wrapper; its next query acquires a fresh one."""
    database._connection = None
