"""The worker's logging, one `logging.config.dictConfig` for every logger (ours, Faust's,
mode's, aiokafka's, aiohttp's), handed to Faust's worker as `logging_config`.

`LOG_FORMAT=json`: one JSON object per line (python-json-logger), with time, level,
logger, message, the worker's id and whatever ids the unit of work knows (request, user,
event, command), and inside a span `trace_id` and `span_id` (W3C hex, as trace backends
show them). `LOG_FORMAT=text`: the same fields, readable, for a terminal.
"""

from __future__ import annotations

import logging
from typing import Any

from opentelemetry import trace
from pythonjsonlogger.json import JsonEncoder, JsonFormatter

from users_service.adapters.log_redaction import redact, redact_value
from users_service.service_layer import log_context

# The order of the ids in text lines; JSON lines carry them as fields of their own.
CONTEXT_FIELDS = ("request_id", "command_id", "user_id", "event_id", "trace_id", "span_id")


class ContextFilter(logging.Filter):
    """Adds `worker_id` and the context's ids to every record that passes the handler."""

    def __init__(self, worker_id: str = "") -> None:
        super().__init__()
        self.worker_id = worker_id

    def filter(self, record: logging.LogRecord) -> bool:
        record.worker_id = self.worker_id
        context = log_context.current()
        for name in CONTEXT_FIELDS:
            if name in context and not hasattr(record, name):
                setattr(record, name, context[name])
        # The current span of the thread that logs (the filter runs where the record is
        # handled, which is where it was made: the handler is synchronous). With tracing
        # off no span is ever current, and the ids are absent.
        span = trace.get_current_span().get_span_context()
        if span.is_valid and not hasattr(record, "trace_id"):
            record.trace_id = trace.format_trace_id(span.trace_id)
            record.span_id = trace.format_span_id(span.span_id)
        return True


class OnePoolLinePerDatabase(logging.Filter):
    """Lets one of `databases`' "Connected to database" (and "Disconnected") lines through
    per database: it logs one per pool, and a worker's three pools share a URL, so the
    same line came three times. The worker's start-up line names the pools and sizes."""

    REPEATED = ("Connected to database ", "Disconnected from database ")

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        # The message as written: the redaction may have replaced `msg` by it already.
        line = record.getMessage()
        if not line.startswith(self.REPEATED):
            return True
        if line in self.seen:
            return False
        self.seen.add(line)
        return True


class RedactingJsonFormatter(JsonFormatter):
    """python-json-logger's lines, every field redacted as the line is written: the
    record factory's redaction sees the message and `exc_text`, but this formatter writes
    `exc_info` anew, `stack_info`, and whatever `extra` fields a library passes."""

    # Terminal colours that `databases` logs beside its message, escapes and all.
    DROPPED = frozenset({"color_message"})

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        encoder = JsonEncoder()
        ready = {k: _json_ready(v, encoder) for k, v in log_data.items() if k not in self.DROPPED}
        cleaned: dict[str, Any] = redact_value(ready)
        return cleaned


def _json_ready(value: Any, encoder: JsonEncoder) -> Any:
    # What python-json-logger would make of a value, so that the redaction sees it: bytes
    # as their repr (not base64, which would hide a secret from it), others as it encodes.
    if value is None or isinstance(value, str | bool | int | float | dict | list | tuple):
        return value
    if isinstance(value, bytes | bytearray):
        return repr(value)
    return encoder.default(value)


class TextFormatter(logging.Formatter):
    """`[time] [LEVEL] logger: message  request_id=… user_id=…`, redacted as written."""

    def __init__(self) -> None:
        super().__init__("[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = " ".join(
            f"{name}={getattr(record, name)}" for name in CONTEXT_FIELDS if hasattr(record, name)
        )
        if ids:
            head, newline, rest = line.partition("\n")  # ids on the first line, before a traceback
            line = f"{head}  {ids}{newline}{rest}"
        return redact(line)


def logging_config(log_format: str, level: str, worker_id: str) -> dict[str, Any]:
    """The dictConfig for `log_format` ("json" or "text") at `level`."""
    if log_format == "json":
        formatter: dict[str, Any] = {
            "()": RedactingJsonFormatter,
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            "timestamp": False,
        }
    else:
        formatter = {"()": TextFormatter}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "context": {"()": ContextFilter, "worker_id": worker_id},
            "one_pool_line": {"()": OnePoolLinePerDatabase},
        },
        "formatters": {"default": formatter},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                # The process's real stdout: Faust later redirects sys.stdout into logging,
                # and a handler writing to that would feed itself.
                "stream": "ext://sys.__stdout__",
                "formatter": "default",
                "filters": ["context"],
            }
        },
        "loggers": {"databases": {"filters": ["one_pool_line"]}},
        "root": {"level": level, "handlers": ["default"]},
    }
