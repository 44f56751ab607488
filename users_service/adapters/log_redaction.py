"""Keeping secrets out of every log line, whatever logger writes it and at what level.

The record factory is wrapped once per process, so each record is redacted as it is
created (before any handler or formatter sees it, and whichever handlers a library or
`faust worker` installs): bcrypt hashes, password fields in JSON or key=value text, and
the password in a URL. aiosqlite's DEBUG call traces, which repeat every query's
arguments, are emptied outright.
"""

from __future__ import annotations

import logging
from typing import Any

from users_service.domain.patterns import linear

# RE2, not `re`: it cannot backtrack, so a match costs time linear in the line, whatever a
# client put in it (under `re`, a long run of letters before a marker is quadratic).
# RE2's \s and \d are ASCII; these classes are what `re` meant by them in str patterns.
_SPACE = r"\t-\r\x1c-\x20\x85\xa0\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}"
_DIGIT = r"\p{Nd}"

# A bcrypt hash anywhere.
_BCRYPT = linear(rf"\$2[abxy]?\${_DIGIT}{_DIGIT}\$[./A-Za-z0-9]{{53}}")
# "password": "…", 'passwordHash': '…', password=…, also as escaped JSON inside a bytes repr.
_FIELD = linear(
    rf"""(?i)(?P<key>\\?["']?(?:password|passwordHash|password_hash|secret)\\?["']?[{_SPACE}]*[:=][{_SPACE}]*)"""
    # A quoted value runs to a closing quote that ends the field (then , } or ]), so an
    # escaped quote inside a password does not end the redaction early. RE2 has no
    # lookahead: what ends the field is matched too (`end`) and put back.
    rf"""(?:(?P<quoted>\\?"(?:.*?)\\?"|'(?:.*?)')(?P<end>[{_SPACE}]*[,}}\]]|[{_SPACE}]*$)"""
    rf"""|[^{_SPACE},;&)}}\]]+)"""
)
# A JWT (its header is JSON, so base64url of `{"`: "eyJ"), and any bearer credential.
_TOKEN = linear(
    r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"
    rf"|(?i)(?P<scheme>bearer[{_SPACE}]+)[^{_SPACE},;&)}}\]'\"]+"
)
# Field names whose value is a secret whatever it looks like (JSON lines' extra fields).
_SECRET_NAME = linear(r"(?i)pass(?:word|wd)?|pwd|secret|token|authorization|credential")
_URL_PASSWORD = linear(rf"(?i)(?P<head>[a-z][a-z0-9+.-]*://[^:/@{_SPACE}]*:)[^@/{_SPACE}]+@")
REDACTED = "<redacted>"


# Every pattern above needs one of these: most lines have none, and skip the regexes.
_MARKERS = ("$2", "pass", "secret", "://", "eyj", "bearer")


def redact(text: str) -> str:
    """`text` without anything that looks like a secret."""
    lowered = text.lower()
    if not any(marker in lowered for marker in _MARKERS):
        return text
    text = _BCRYPT.sub(REDACTED, text)
    text = _TOKEN.sub(lambda m: (m.group("scheme") or "") + REDACTED, text)
    text = _FIELD.sub(lambda m: m.group("key") + REDACTED + (m.group("end") or ""), text)
    return _URL_PASSWORD.sub(lambda m: m.group("head") + REDACTED + "@", text)


def is_secret_name(name: str) -> bool:
    """True for a field name (`password`, `apiToken`, …) whose value is never logged."""
    return _SECRET_NAME.search(name) is not None


def redact_value(value: Any, depth: int = 0) -> Any:
    """`value` (text, or JSON-like data) without anything that looks like a secret: every
    string redacted, and every value under a secret's name replaced."""
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if depth > 20:  # deeper than any log line needs, and cycles end here
        return redact(repr(value))
    if isinstance(value, dict):
        return {
            key: REDACTED if is_secret_name(str(key)) else redact_value(item, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(item, depth + 1) for item in value]
    return redact(repr(value) if isinstance(value, bytes | bytearray) else str(value))


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
