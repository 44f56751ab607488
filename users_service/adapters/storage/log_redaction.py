"""Keeping query parameters (password hashes among them) out of the logs.

At DEBUG, `databases` logs every query with its parameters, and aiosqlite logs each call
with its arguments: either would write the bcrypt hash of every new user to the log.
"""

from __future__ import annotations

import logging


class RedactQueryArgs(logging.Filter):
    """Keeps `databases`' query text, replaces its parameters; drops aiosqlite's call traces."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "aiosqlite" and record.levelno <= logging.DEBUG:
            return False
        if record.name == "databases" and str(record.msg).startswith("Query:"):
            query = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
            record.args = (query, "<redacted>")
        return True


_redactor = RedactQueryArgs()


def redact_query_logs() -> None:
    """Attach the filter to the database libraries' loggers (idempotent)."""
    for name in ("databases", "aiosqlite"):
        logger = logging.getLogger(name)
        if _redactor not in logger.filters:
            logger.addFilter(_redactor)
