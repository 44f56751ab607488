"""The worker's logging config: JSON lines with the context's ids, readable text otherwise,
and no secret in either."""

from __future__ import annotations

import io
import json
import logging
import logging.config

import pytest

from streamapp.logging_setup import logging_config
from users_service.adapters.log_redaction import install_log_redaction
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
