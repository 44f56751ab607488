"""CONSUMER spans of the messages the agents handle, continuing each message's trace.

Not `faust.contrib.opentelemetry`'s sensor: both agents read in batches
(`Stream.take_events`), where Faust iterates the stream in a background task with acks
off, and the sensor's `on_stream_event_out` (which ends its span and detaches its
context) is then never called with its state: every span would stay open and
unexported, and the contexts it attached would pile up in that task. Here each message's
span is opened by the agent around the work it does for that message.

While tracing is off (`enabled` false) nothing is extracted or started: a message's
`traceparent` must not become current then, or the outbox would store it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from users_service.adapters import trace_context
from users_service.domain.model import is_uuid_text


def _header_text(headers: Mapping[str, bytes | None], name: str) -> str | None:
    value = headers.get(name)
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else None


def _attributes(message: Any, group: str) -> dict[str, str | int]:
    attributes: dict[str, str | int] = {
        "messaging.system": "kafka",
        "messaging.operation.name": "process",
        "messaging.operation.type": "process",
        "messaging.destination.name": str(message.topic),
        "messaging.destination.partition.id": str(message.partition),
        "messaging.kafka.offset": int(message.offset),
        "messaging.consumer.group.name": group,
    }
    key = message.key.decode("utf-8", "replace") if isinstance(message.key, bytes) else None
    # A UUID only (a user or command id): a producer may key a command by the email, or by
    # mistake by a password or a hash, and a span leaves for the trace backend as it is.
    if key is not None and is_uuid_text(key):
        attributes["messaging.kafka.message.key"] = key
    return attributes


def start(message: Any, headers: Mapping[str, bytes | None], group: str) -> Span:
    """A CONSUMER `{topic} process` span of `message`, child of its `traceparent` (a root
    span when it has none), not made current."""
    parent = trace_context.context_of(
        _header_text(headers, "traceparent"), _header_text(headers, "tracestate")
    )
    return trace_context.tracer().start_span(
        f"{message.topic} process",
        context=parent if parent is not None else trace.set_span_in_context(trace.INVALID_SPAN),
        kind=SpanKind.CONSUMER,
        attributes=_attributes(message, group),
        record_exception=False,
        set_status_on_exception=False,
    )


def end(span: Span, failure: str | None = None) -> None:
    """End `span`; a failure is named (a reason code, never a message's text)."""
    if failure:
        span.set_attribute("error.type", failure[:64])
        span.set_status(Status(StatusCode.ERROR))
    span.end()


@contextlib.contextmanager
def processing(
    message: Any, headers: Mapping[str, bytes | None], group: str, *, enabled: bool
) -> Iterator[None]:
    """`message`'s span, current inside the block (what the block writes to the outbox is
    in its trace); nothing while tracing is off."""
    if not enabled:
        yield
        return
    span = start(message, headers, group)
    failure: str | None = None
    try:
        with trace.use_span(
            span, end_on_exit=False, record_exception=False, set_status_on_exception=False
        ):
            yield
    except BaseException as exc:
        failure = type(exc).__qualname__
        raise
    finally:
        end(span, failure)


def start_all(
    messages: Sequence[tuple[Any, Mapping[str, bytes | None]]], group: str, *, enabled: bool
) -> list[Span]:
    """One span per message of a batch handled as one (the verifier's check)."""
    if not enabled:
        return []
    return [start(message, headers, group) for message, headers in messages]
