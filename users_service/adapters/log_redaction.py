"""Keeping secrets out of every log line, whatever logger writes it and at what level.

The record factory is wrapped once per process, so each record is redacted as it is
created (before any handler or formatter sees it, and whichever handlers a library or
`faust worker` installs): bcrypt hashes, password fields in JSON or key=value text, and
the password in a URL. aiosqlite's DEBUG call traces, which repeat every query's
arguments, are emptied outright.
"""

from __future__ import annotations

import logging
import re
from typing import Any

# A bcrypt hash anywhere.
_BCRYPT = re.compile(r"\$2[abxy]?\$\d\d\$[./A-Za-z0-9]{53}")
# "password": "…", 'passwordHash': '…', password=…, also as escaped JSON inside a bytes repr.
_FIELD = re.compile(
    r"""(?P<key>\\?["']?(?:password|passwordHash|password_hash|secret)\\?["']?\s*[:=]\s*)"""
    # A quoted value runs to a closing quote that ends the field (then , } or ]), so an
    # escaped quote inside a password does not end the redaction early.
    r"""(?P<value>\\?"(?:.*?)\\?"(?=\s*[,}\]]|\s*$)|'(?:.*?)'(?=\s*[,}\]]|\s*$)|[^\s,;&)}\]]+)""",
    re.IGNORECASE,
)
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@/\s]+@", re.IGNORECASE)
REDACTED = "<redacted>"


# Every pattern above needs one of these: most lines have none, and skip the regexes.
_MARKERS = ("$2", "pass", "secret", "://")


def redact(text: str) -> str:
    """`text` without anything that looks like a secret."""
    lowered = text.lower()
    if not any(marker in lowered for marker in _MARKERS):
        return text
    text = _BCRYPT.sub(REDACTED, text)
    text = _FIELD.sub(lambda m: m.group("key") + REDACTED, text)
    return _URL_PASSWORD.sub(lambda m: m.group("head") + REDACTED + "@", text)


_installed = False


def install_log_redaction() -> None:
    """Wrap the process's log record factory (once)."""
    global _installed
    if _installed:
        return
    _installed = True
    make_record = logging.getLogRecordFactory()

    def redacting_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        if record.name == "aiosqlite" and record.levelno <= logging.DEBUG:
            record.msg, record.args = "(call trace omitted: it repeats query arguments)", None
            return record
        if record.name == "databases" and str(record.msg).startswith("Query:"):
            # The query text stays; its parameters (personal data, hashes) do not.
            query = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
            record.args = (query, "<redacted>")
            return record
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the handler's problem, as before
            return record
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return record

    logging.setLogRecordFactory(redacting_record)
