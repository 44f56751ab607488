"""Log lines of libraries that quote what clients and producers sent, raw: aiokafka's
DEBUG protocol lines (a FetchResponse holds every record's bytes, `user.create`'s
passwords among them) and aiohttp's parser errors (the refused request line, whole, in a
traceback: 16.5 KB a request, and an 8 KB line ending in `password=…`). Redaction by
pattern cannot know every shape such bytes take, so these lines keep none of them."""

from __future__ import annotations

import logging
import sys

import pytest
from aiohttp import http_exceptions

from users_service.adapters.log_redaction import install_log_redaction

SECRET = "hunter2hunter2"


def record(name: str, level: int, msg: str, *args: object, exc: BaseException | None = None):  # type: ignore[no-untyped-def]
    install_log_redaction()
    exc_info = (type(exc), exc, exc.__traceback__) if exc else None
    return logging.getLogRecordFactory()(name, level, __file__, 1, msg, args, exc_info)


class _FetchResponse:
    def __repr__(self) -> str:
        # as aiokafka's structs print: records as a bytes repr; this command is UTF-16
        # JSON, a shape no pattern of the redaction reads
        value = ('{"password": "' + SECRET + '"}').encode("utf-16-le")
        return f"FetchResponse_v4(topics=[(topic='user.create', records={value!r})])"


@pytest.mark.parametrize("msg", ["Response from %s:%d %d: %s", "Request to %s:%d %d: %s"])
def test_aiokafka_protocol_lines_keep_no_payload(msg: str) -> None:
    rec = record("aiokafka.conn", logging.DEBUG, msg, "127.0.0.1", 9092, 7, _FetchResponse())
    text = rec.getMessage()
    assert SECRET.encode("utf-16-le").decode("latin-1") not in text.encode().decode(
        "unicode_escape"
    )
    assert "\\x00" not in text  # no record bytes at all
    assert "127.0.0.1" in text  # still says which connection and correlation id


def _refused(line: bytes) -> BaseException:
    try:
        raise http_exceptions.BadStatusLine(line.decode("latin-1"))
    except http_exceptions.BadStatusLine:
        return sys.exc_info()[1]  # type: ignore[return-value]


def test_a_refused_request_is_one_short_line_quoting_nothing_of_it() -> None:
    line = b"GET /" + b"a" * 8000 + b"?password\t=" + SECRET.encode() + b"\x00 HTTP/1.1"
    rec = record(
        "aiohttp.server",
        logging.ERROR,
        "Error handling request from %s",
        "127.0.0.1",
        exc=_refused(line),
    )
    formatted = logging.Formatter().format(rec)
    assert SECRET not in formatted
    assert rec.exc_info is None and "Traceback" not in formatted
    assert len(formatted) < 300
    assert rec.levelno == logging.INFO  # the client's mistake, answered 400: not an error
    assert "BadStatusLine" in formatted and "127.0.0.1" in formatted
