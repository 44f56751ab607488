"""Migrations as the worker runs them: in a child process.

Alembic, Mako and the synchronous driver (psycopg) take about 20 MiB once imported, and a
worker would carry them for its whole life to use them once, at start. The child does the
work (`python -m users_service.adapters.storage.migrations`) and exits; the URL goes to it
on stdin, never on a command line that `ps` shows.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from typing import Any

from users_service.domain.errors import StorageUnavailable

log = logging.getLogger(__name__)

# The child's exit statuses.
EXIT_REFUSED = 1
EXIT_UNAVAILABLE = 3


class MigrationError(RuntimeError):
    """The database cannot be brought to the head revision as it is."""


async def migrate_in_child(url: str) -> tuple[str | None, str | None]:
    """The schema at `url` to head; (revision before, revision after)."""
    result = await _child("upgrade", url)
    before, after = result["before"], result["after"]
    if before != after:
        log.info("schema migrated from revision %s to %s", before, after)
    return before, after


async def revisions_in_child(url: str) -> tuple[str | None, str]:
    """(the database's revision, the code's head), changing nothing."""
    result = await _child("revisions", url)
    return result["current"], result["head"]


async def _child(action: str, url: str) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "users_service.adapters.storage.migrations",
        action,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate(url.encode())
    reason = (err.decode(errors="replace").strip().splitlines() or ["(no message)"])[-1]
    if process.returncode == 0:
        result: dict[str, Any] = json.loads(out)
        return result
    if process.returncode == EXIT_UNAVAILABLE:
        raise StorageUnavailable(reason)
    raise MigrationError(reason)
