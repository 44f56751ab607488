"""The W3C trace context as the outbox carries it, and the service layer's `Tracing` port
on OpenTelemetry's API.

Everything here reads the process's global tracer provider when it runs, never at import:
while tracing is off (`adapters.tracing`: no provider installed) no span is ever valid,
so `current` gives (None, None) and nothing is stored or sent, and the spans started
here are the API's non-recording ones.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

# Only W3C trace context: the outbox stores `traceparent`/`tracestate`, never baggage
# (whatever OTEL_PROPAGATORS adds to a request's own propagation).
_W3C = TraceContextTextMapPropagator()
INSTRUMENTATION = "users-service"
# The outbox's `tracestate` column, and what W3C asks every vendor to propagate at least: a
# client may send a valid one far longer (32 members of 256-character keys and values).
TRACESTATE_MAX_CHARS = 512
_LONG_MEMBER_CHARS = 128


def current() -> tuple[str | None, str | None]:
    """The current span's (traceparent, tracestate); (None, None) outside a valid span."""
    if not trace.get_current_span().get_span_context().is_valid:
        return None, None
    carrier: dict[str, str] = {}
    _W3C.inject(carrier)
    return carrier.get("traceparent"), truncated(carrier.get("tracestate"))


def truncated(tracestate: str | None) -> str | None:
    """`tracestate` cut to TRACESTATE_MAX_CHARS the way W3C Trace Context (3.3.1.5) says:
    members over 128 characters dropped first, then members from the end."""
    if not tracestate or len(tracestate) <= TRACESTATE_MAX_CHARS:
        return tracestate or None
    members = [m for m in tracestate.split(",") if len(m.strip()) <= _LONG_MEMBER_CHARS]
    while members and len(",".join(members)) > TRACESTATE_MAX_CHARS:
        members.pop()
    return ",".join(members) or None


def context_of(traceparent: str | None, tracestate: str | None = None) -> Context | None:
    """The context a stored (or received) traceparent names; None when there is none or it
    does not parse."""
    if not traceparent:
        return None
    carrier = {"traceparent": traceparent}
    if tracestate:
        carrier["tracestate"] = tracestate
    context = _W3C.extract(carrier)
    return context if trace.get_current_span(context).get_span_context().is_valid else None


def link_to(traceparent: str | None, tracestate: str | None = None) -> Link | None:
    """A span link to the span a traceparent names, or None."""
    context = context_of(traceparent, tracestate)
    if context is None:
        return None
    return Link(trace.get_current_span(context).get_span_context())


def tracing_on() -> bool:
    """True once an SDK tracer provider is installed (`adapters.tracing`)."""
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


@contextlib.contextmanager
def work_span(
    name: str, attributes: Mapping[str, str | int], *, client: bool = False
) -> Iterator[None]:
    """A span around a piece of work (CLIENT with `client`: a call to the database),
    current inside the block; nothing at all while tracing is off. A failure is named by
    its class only."""
    if not tracing_on():
        yield
        return
    with (
        tracer().start_as_current_span(
            name,
            kind=SpanKind.CLIENT if client else SpanKind.INTERNAL,
            attributes=dict(attributes),
            record_exception=False,
            set_status_on_exception=False,
        ) as span,
        failures_named(span),
    ):
        yield


@contextlib.contextmanager
def failures_named(span: trace.Span) -> Iterator[None]:
    """A failure inside the block marks `span` as an error named by its class only: an
    exception's message may quote input (the HTTP span does the same)."""
    try:
        yield
    except BaseException as exc:
        span.set_attribute("error.type", type(exc).__qualname__)
        span.set_status(Status(StatusCode.ERROR))
        raise


def tracer() -> trace.Tracer:
    """The service's tracer on the global provider (a no-op one while tracing is off)."""
    return trace.get_tracer(INSTRUMENTATION)


class OpenTelemetryTracing:
    """The service layer's `Tracing` port (`service_layer.ports`) on OpenTelemetry."""

    def current(self) -> tuple[str | None, str | None]:
        return current()

    @contextlib.contextmanager
    def span(
        self,
        name: str,
        *,
        attributes: Mapping[str, str | int] | None = None,
        links: Sequence[str | None] = (),
    ) -> Iterator[None]:
        found = [link for link in (link_to(parent) for parent in links) if link is not None]
        with (
            tracer().start_as_current_span(
                name,
                kind=SpanKind.INTERNAL,
                attributes=dict(attributes or {}),
                links=found,
                record_exception=False,
                set_status_on_exception=False,
            ) as span,
            failures_named(span),
        ):
            yield
