"""The worker's logging config: JSON lines with the context's ids, readable text otherwise,
and no secret in either."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import pathlib

import pytest
from opentelemetry.sdk.trace import TracerProvider

from streamapp.logging_setup import logging_config
from users_service.adapters.log_redaction import install_log_redaction
from users_service.adapters.storage.database import make_database
from users_service.service_layer import log_context


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    stream = io.StringIO()
    monkeypatch.setattr("sys.__stdout__", stream)
    return stream


def configure(log_format: str) -> None:
    logging.config.dictConfig(logging_config(log_format, "INFO", "host:123"))


@pytest.fixture(autouse=True)
def restore_logging() -> object:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield None
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines_carry_the_worker_and_the_context_ids(captured: io.StringIO) -> None:
    configure("json")
    log = logging.getLogger("users.test")
    with log_context.scope(request_id="r-1"):
        log_context.add(user_id="u-1", event_id="e-1")
        log.info("created %s", "someone")
    log.warning("outside")
    first, second = (json.loads(line) for line in captured.getvalue().splitlines())
    assert first["message"] == "created someone"
    assert first["level"] == "INFO" and first["logger"] == "users.test"
    assert (first["request_id"], first["user_id"], first["event_id"]) == ("r-1", "u-1", "e-1")
    assert first["worker_id"] == "host:123" and "time" in first
    assert "request_id" not in second and second["level"] == "WARNING"


def test_a_traceback_stays_inside_its_json_line(captured: io.StringIO) -> None:
    configure("json")
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("users.test").exception("failed")
    lines = captured.getvalue().splitlines()
    assert len(lines) == 1
    assert "ValueError: boom" in json.loads(lines[0])["exc_info"]


def test_text_lines_put_the_ids_after_the_message(captured: io.StringIO) -> None:
    configure("text")
    with log_context.scope(command_id="c-9"):
        logging.getLogger("users.commands").info("command c-9: created user u")
    line = captured.getvalue().strip()
    assert "[INFO] users.commands: command c-9: created user u  command_id=c-9" in line


def test_no_secret_reaches_a_json_line(captured: io.StringIO) -> None:
    install_log_redaction()
    configure("json")
    secret_hash = "$2b$12$" + "a" * 53
    logging.getLogger("aiokafka").error("payload %s", {"password": "hunter2-x", "h": secret_hash})
    text = captured.getvalue()
    assert "hunter2-x" not in text and secret_hash not in text


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_no_secret_of_a_traceback_reaches_a_line(captured: io.StringIO, log_format: str) -> None:
    """python-json-logger formats `exc_info` anew: the redaction of `exc_text` alone left
    the traceback's secrets in JSON lines (issue 26, case 9)."""
    install_log_redaction()
    configure(log_format)
    try:
        try:
            raise ConnectionError("postgresql://users:db-secret-1@db/users")
        except ConnectionError as cause:
            raise ValueError({"password": "hunter2-tb"}) from cause
    except ValueError:
        logging.getLogger("some.library").exception("failed")
    text = captured.getvalue()
    assert "ValueError" in text and "ConnectionError" in text
    assert "hunter2-tb" not in text and "db-secret-1" not in text


def test_no_secret_of_an_extra_field_reaches_a_json_line(captured: io.StringIO) -> None:
    install_log_redaction()
    configure("json")
    logging.getLogger("some.library").warning(
        "sent", extra={"body": '{"password": "hunter2-extra"}', "password": "hunter2-key"}
    )
    (line,) = captured.getvalue().splitlines()
    record = json.loads(line)
    assert "hunter2-extra" not in line and "hunter2-key" not in line
    assert record["message"] == "sent" and "body" in record


def test_json_lines_carry_no_terminal_colours(captured: io.StringIO) -> None:
    """`databases` logs a `color_message` with ANSI escapes beside its message."""
    configure("json")
    logging.getLogger("databases").info(
        "Connected to database %s", "x", extra={"color_message": "\x1b[1m%s\x1b[0m"}
    )
    (line,) = captured.getvalue().splitlines()
    assert "color_message" not in json.loads(line)


@pytest.mark.parametrize("log_format", ["json", "text"])
async def test_a_workers_pools_say_connected_once_per_database(
    captured: io.StringIO, log_format: str, tmp_path: pathlib.Path
) -> None:
    """A worker has three pools on one URL, and `databases` logs each one's connect and
    disconnect: three identical lines each way, where the start-up line already names the
    pools. One line a database and direction remains."""
    install_log_redaction()
    configure(log_format)
    url = f"sqlite:///{tmp_path / 'users.sqlite3'}"
    pools = [make_database(url, max_size=size) for size in (10, 2, 2)]
    for pool in pools:
        await pool.connect()
    for pool in pools:
        await pool.disconnect()
    lines = captured.getvalue().splitlines()
    assert sum("Connected to database" in line for line in lines) == 1, lines
    assert sum("Disconnected from database" in line for line in lines) == 1, lines
    assert "\x1b" not in captured.getvalue() and "color_message" not in captured.getvalue()


# Spans of a provider of the test's own: the process's global provider is left alone.
_TRACER = TracerProvider().get_tracer("tests.logging")


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_lines_inside_a_span_carry_its_trace_and_span_ids(
    captured: io.StringIO, log_format: str
) -> None:
    install_log_redaction()
    configure(log_format)
    log = logging.getLogger("users.test")
    with _TRACER.start_as_current_span("outer") as outer:
        log.info("in outer")
        with _TRACER.start_as_current_span("inner") as inner:
            log.info("in inner password=hunter2-span")
    log.info("outside")
    lines = captured.getvalue().splitlines()
    assert len(lines) == 3
    spans = [outer.get_span_context(), inner.get_span_context()]
    for line, span in zip(lines, spans, strict=False):
        trace_id, span_id = format(span.trace_id, "032x"), format(span.span_id, "016x")
        if log_format == "json":
            record = json.loads(line)
            assert (record["trace_id"], record["span_id"]) == (trace_id, span_id)
        else:
            assert line.endswith(f"  trace_id={trace_id} span_id={span_id}")
    assert "trace_id" not in lines[2] and "span_id" not in lines[2]
    # The redaction holds for lines in a span too.
    assert "hunter2-span" not in captured.getvalue()
