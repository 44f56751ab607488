"""The trace context across the outbox, as logic: what the outbox stores from the current
span, what the publisher sends, and the publish span (parent, link, a replay's new trace),
on an SDK provider of the test's own (never the process's global one)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode, Tracer

from users_service.adapters import trace_context
from users_service.adapters.kafka.publish_spans import PublishSpans
from users_service.adapters.kafka.publisher import KafkaPublisher
from users_service.adapters.storage.outbox_store import DatabaseOutbox
from users_service.adapters.storage.writes import Write
from users_service.domain.model import OutboxMessage
from users_service.service_layer.outbox.ports import PendingMessage, SendFailure

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = f"00-{TRACE}-00f067aa0ba902b7-01"
AT = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)


@pytest.fixture
def exported() -> Iterator[tuple[Tracer, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider.get_tracer("test"), exporter
    provider.shutdown()


def message(**fields: Any) -> PendingMessage:
    base: dict[str, Any] = {
        "event_id": "e-1",
        "event_type": "USER_CREATED",
        "topic": "user.created",
        "key": "u-1",
        "payload": b"{}",
        "headers": {"eventType": "USER_CREATED"},
    }
    return PendingMessage(**{**base, **fields})


PUBLISHER = KafkaPublisher(cast(Any, None))


def test_the_stored_context_is_sent_unchanged_and_nothing_without_one() -> None:
    sent = dict(PUBLISHER.headers(message(traceparent=PARENT, tracestate="v=1")))
    assert sent == {
        "eventType": b"USER_CREATED",
        "traceparent": PARENT.encode(),
        "tracestate": b"v=1",
    }
    assert dict(PUBLISHER.headers(message())) == {"eventType": b"USER_CREATED"}
    # A replay's new context replaces the stored one; never two traceparents.
    new = f"00-{'1' * 32}-{'2' * 16}-01"
    replaced = PUBLISHER.headers(message(traceparent=PARENT, tracestate="v=1"), (new, None))
    assert [v for k, v in replaced if k == "traceparent"] == [new.encode()]
    assert "tracestate" not in dict(replaced)


class Captured:
    def __init__(self) -> None:
        self.writes: list[Write] = []

    async def submit(self, write: Write) -> None:
        self.writes.append(write)


def outbox_message() -> OutboxMessage:
    return OutboxMessage("e-1", "USER_CREATED", "user", "u-1", "user.created", "u-1", b"{}", {}, AT)


async def test_the_outbox_stores_the_context_current_as_the_message_is_written() -> None:
    writes = Captured()
    outbox = DatabaseOutbox(
        writes, owner="w", claim_ttl=timedelta(seconds=30), current_context=lambda: (PARENT, "v=1")
    )
    await outbox.add(outbox_message())
    [write] = writes.writes
    assert (write.values["traceparent"], write.values["tracestate"]) == (PARENT, "v=1")
    assert write.values["headers"] == "{}"  # not mixed into the message's own headers
    assert write.returned is not None
    write.returned(("w",))  # claimed for the fast path: it carries the context too
    assert (outbox.claimed[0].traceparent, outbox.claimed[0].tracestate) == (PARENT, "v=1")


async def test_with_tracing_off_the_outbox_stores_no_context() -> None:
    writes = Captured()
    outbox = DatabaseOutbox(writes, owner=None, claim_ttl=timedelta(seconds=30))
    await outbox.add(outbox_message())  # the default reading: no span is current
    assert (writes.writes[0].values["traceparent"], writes.writes[0].values["tracestate"]) == (
        None,
        None,
    )


def test_the_current_context_is_the_current_span_s(
    exported: tuple[Tracer, InMemorySpanExporter],
) -> None:
    tracer, _ = exported
    assert trace_context.current() == (None, None)
    with tracer.start_as_current_span("request") as span:
        traceparent, tracestate = trace_context.current()
    context = span.get_span_context()
    # Flags: sampled, and (W3C level 2, as the SDK makes its ids) random.
    assert traceparent == f"00-{context.trace_id:032x}-{context.span_id:016x}-03"
    assert tracestate is None
    assert trace_context.context_of("not a traceparent") is None
    assert trace_context.link_to(None) is None


def test_the_publish_span_is_a_child_of_and_linked_to_the_creation_context(
    exported: tuple[Tracer, InMemorySpanExporter],
) -> None:
    tracer, exporter = exported
    spans = PublishSpans(tracer)
    assert spans.start(0, message(traceparent=PARENT)) is None  # sent as stored
    assert spans.start(1, message(event_id="e-2")) is None
    spans.end([None, SendFailure("KafkaTimeoutError: no answer", outage=True)])
    first, second = exporter.get_finished_spans()
    assert first.name == "user.created publish" and first.kind is SpanKind.PRODUCER
    assert first.parent is not None and f"{first.parent.trace_id:032x}" == TRACE
    assert [f"{link.context.trace_id:032x}" for link in first.links] == [TRACE]
    assert first.attributes is not None
    assert first.attributes["messaging.message.id"] == "e-1"
    assert first.attributes["outbox.creation_context"] == PARENT
    # Written while tracing was off: a root span, without link; a failure named by kind.
    assert second.parent is None and not second.links
    assert second.status.status_code is StatusCode.ERROR
    assert second.attributes is not None and second.attributes["error.type"] == "outage"


def test_a_replayed_message_is_published_in_a_new_trace_linked_to_the_original(
    exported: tuple[Tracer, InMemorySpanExporter],
) -> None:
    tracer, exporter = exported
    spans = PublishSpans(tracer)
    replayed = message(traceparent=PARENT, headers={"replay": "2026-12-03T10:00:00Z"})
    sent = spans.start(0, replayed)
    spans.end([None])
    [span] = exporter.get_finished_spans()
    assert span.parent is None and f"{span.context.trace_id:032x}" != TRACE
    assert [f"{link.context.trace_id:032x}" for link in span.links] == [TRACE]
    assert sent == (f"00-{span.context.trace_id:032x}-{span.context.span_id:016x}-03", None)
    assert span.attributes is not None and span.attributes["outbox.republished"] == "replay"


def test_no_span_at_all_while_tracing_is_off() -> None:
    spans = PublishSpans()  # no SDK provider installed in this process
    assert spans.start(0, message(traceparent=PARENT)) is None
    spans.end([None])


def test_a_tracestate_over_512_characters_loses_long_members_first_then_the_last() -> None:
    from users_service.adapters.trace_context import truncated

    assert truncated("a=1,b=2") == "a=1,b=2"
    assert truncated(None) is None and truncated("") is None
    long = f"{'k' * 100}={'v' * 200}"
    assert truncated(",".join([long, "a=1", long, "b=2"])) == "a=1,b=2"
    shorts = [f"m{i:02d}={'v' * 100}" for i in range(6)]  # 104 characters each
    assert truncated(",".join(shorts)) == ",".join(shorts[:4])  # 419 of them; 5 is 524
