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

from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

from users_service.domain.patterns import linear

# RE2, not `re`: it cannot backtrack, so a match costs time linear in the line, whatever a
# client put in it (under `re`, a long run of letters before a marker is quadratic).
# RE2's \s and \d are ASCII; these classes are what `re` meant by them in str patterns.
_SPACE = r"\t-\r\x1c-\x20\x85\xa0\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}"
_DIGIT = r"\p{Nd}"

# A bcrypt hash anywhere.
_BCRYPT = linear(rf"\$2[abxy]?\${_DIGIT}{_DIGIT}\$[./A-Za-z0-9]{{53}}")
# "password": "…", 'passwordHash': '…', password=…, also as escaped JSON inside a bytes repr.
# The blanks around `:` or `=`, also as a repr writes them (`\\n`, `\\t`: a bytes repr of a
# command, a request line quoted in a traceback).
_BLANK = rf"(?:[{_SPACE}]|\\+[nrt])*"
_FIELD = linear(
    rf"""(?i)(?P<key>\\?["']?(?:password|passwordHash|password_hash|secret)\\?["']?{_BLANK}[:=]{_BLANK})"""
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


# JSON's \\uXXXX escape, as a repr or a JSON text shows it: `pass\\u0077ord` is a password
# field to whoever reads the JSON.
_U_ESCAPE = linear(r"\\+u([0-9A-Fa-f]{4})")


def _unescaped(text: str) -> str:
    return _U_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)


def redact(text: str) -> str:
    """`text` without anything that looks like a secret."""
    lowered = text.lower()
    if "\\u" in lowered:
        # Read as JSON reads it, so that an escaped key cannot hide a field; the line is
        # then written so (its \\u escapes decoded).
        decoded = _unescaped(text)
        if decoded != text and any(m in decoded.lower() for m in _MARKERS):
            text, lowered = decoded, decoded.lower()
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
        if _quotes_raw_bytes(record):
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


def _quotes_raw_bytes(record: logging.LogRecord) -> bool:
    """Rewrite, keeping none of the bytes they quote, the library lines that quote what
    producers and clients sent: no pattern knows every shape such bytes take (UTF-16,
    escapes, framing), so these keep only who and what. True when `record` was one."""
    args = record.args if isinstance(record.args, tuple) else ()
    if (
        record.name == "aiokafka.conn"
        and record.levelno <= logging.DEBUG
        and len(args) == 4
        and str(record.msg).startswith(("Request to", "Response from"))
    ):
        # A protocol struct: a FetchResponse holds every record it fetched, a
        # ProduceRequest every record it sends.
        verb = str(record.msg).split(" %s", 1)[0]
        host, port, correlation, struct = args
        record.msg = "%s %s:%s %s: %s (its fields omitted: they hold records' bytes)"
        record.args = (verb, host, port, correlation, type(struct).__name__)
        return True
    error = record.exc_info[1] if record.exc_info else None
    if isinstance(error, RequestPayloadError) and isinstance(error.__cause__, HttpProcessingError):
        # A body its Content-Encoding could not decode, raised again when aiohttp drains
        # it after the view's 400: the same refusal, not an unhandled error.
        error = error.__cause__
    if record.name == "aiohttp.server" and isinstance(error, HttpProcessingError):
        # aiohttp refused the request as malformed and answered 400 itself: the client's
        # mistake, not an error; its message and traceback quote the request line whole.
        remote = args[0] if args else "?"
        record.msg = "refused a malformed request from %s: %s (%s)"
        record.args = (remote, type(error).__name__, error.code)
        record.levelno, record.levelname = logging.INFO, "INFO"
        record.exc_info, record.exc_text = None, None
        return True
    return False
