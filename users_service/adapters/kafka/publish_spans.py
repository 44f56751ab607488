"""The PRODUCER span of each outbox message's publish, in the trace it was created in.

Per OpenTelemetry's messaging conventions the message's *creation context* is the one
its consumers continue: here the context stored with its outbox row (the sign-up's
request, the command's handling), sent as its `traceparent` unchanged. The publish may
come minutes after it (the relay, after an outage), from another worker, and for a batch
of messages of many traces; so the publish span is not what consumers continue, and it
is not made the parent of anything. It is a child of the creation context, so that a
trace viewer that does not draw links (Zipkin) shows the late publish inside the
sign-up's trace, and it links to that context as the conventions ask of a "publish"
span. The relay's batch span (service_layer.outbox.relay) links to every message of the
batch in turn.

A replayed or backfilled message is the exception: an operator's act, days later maybe,
is not part of the sign-up. Its publish span begins a new trace, links to the stored
context, and is what it is sent with: its consumers' spans join the new trace.

Nothing is started while tracing is off (no SDK provider installed): the relay's hot
path then pays one check a batch.
"""

from __future__ import annotations

from collections.abc import Sequence

from faust.types import RecordMetadata
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from users_service.adapters import trace_context
from users_service.service_layer.backfill import BACKFILL_HEADER
from users_service.service_layer.outbox.ports import PendingMessage, SendFailure

# The headers an operator's `outbox replay` (streamapp.operator_commands) and `backfill`
# mark their rows with.
REPLAY = "replay"
_W3C = TraceContextTextMapPropagator()


def is_republished(message: PendingMessage) -> bool:
    """True for a row queued again by a replay, or written by a backfill: its publish is
    not part of the work that created it, and begins a trace of its own."""
    return REPLAY in message.headers or BACKFILL_HEADER in message.headers


class PublishSpans:
    """The publish spans of one call of the publisher, by the message's index."""

    def __init__(self, tracer: trace.Tracer | None = None) -> None:
        """Spans of `tracer`; by default the service's, when tracing is on."""
        if tracer is None and trace_context.tracing_on():
            tracer = trace_context.tracer()
        self._tracer = tracer
        self._spans: dict[int, Span] = {}

    def start(self, index: int, message: PendingMessage) -> tuple[str, str | None] | None:
        """Start `message`'s span (as it is handed to the producer). For a replayed or
        backfilled message, the (traceparent, tracestate) to send instead of the stored
        one: its publish span begins a new trace, linked to the stored context."""
        if self._tracer is None:
            return None
        anew = is_republished(message)
        parent = None if anew else trace_context.context_of(message.traceparent, message.tracestate)
        link = trace_context.link_to(message.traceparent, message.tracestate)
        attributes: dict[str, str | int] = {
            "messaging.system": "kafka",
            "messaging.operation.name": "publish",
            "messaging.operation.type": "send",
            "messaging.destination.name": message.topic,
            "messaging.message.id": message.event_id,
            "messaging.kafka.message.key": message.key,
            "cloudevents.event_type": message.event_type,
        }
        if message.traceparent is not None:
            # Zipkin keeps no links: the stored context is named as a tag too.
            attributes["outbox.creation_context"] = message.traceparent
        if anew:
            attributes["outbox.republished"] = "replay" if REPLAY in message.headers else "backfill"
        # Without a stored context (tracing was off when it was written): a root span.
        self._spans[index] = self._tracer.start_span(
            f"{message.topic} publish",
            context=parent if parent is not None else trace.set_span_in_context(trace.INVALID_SPAN),
            kind=SpanKind.PRODUCER,
            attributes=attributes,
            links=[link] if link is not None else [],
            record_exception=False,
            set_status_on_exception=False,
        )
        if not anew:
            return None
        carrier: dict[str, str] = {}
        _W3C.inject(carrier, context=trace.set_span_in_context(self._spans[index]))
        return carrier["traceparent"], carrier.get("tracestate")

    def acknowledged(self, index: int, metadata: RecordMetadata) -> None:
        """Kafka acknowledged message `index`: where it went."""
        span = self._spans.get(index)
        if span is not None:
            span.set_attribute("messaging.destination.partition.id", str(metadata.partition))
            span.set_attribute("messaging.kafka.offset", int(metadata.offset))

    def end(self, results: Sequence[SendFailure | None]) -> None:
        """End every span; a failed publish is an error, named by kind only."""
        for index, span in self._spans.items():
            result = results[index]
            if result is not None:
                span.set_attribute("error.type", _error_type(result))
                span.set_status(Status(StatusCode.ERROR))
            span.end()
        self._spans.clear()


def _error_type(result: SendFailure) -> str:
    if result.held_back:
        return "held_back"
    return "outage" if result.outage else result.error.split(":", 1)[0][:64]
