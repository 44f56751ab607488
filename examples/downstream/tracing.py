"""Tracing for the example, the way another team would add it: OpenTelemetry's SDK from
the standard `OTEL_*` variables, and Faust's own `faust.contrib.opentelemetry` sensor,
which continues the `traceparent` each `user.created` event carries (the sign-up's trace)
in a `{topic} process` span. Off, and nothing imported, when no `OTEL_*` is set.

The sensor only reads headers; nothing else here writes one (no aiokafka
instrumentation), so no event this app forwards carries a second `traceparent`.
"""

from __future__ import annotations

import atexit
import os
from typing import Any

_EXPORTERS = ("otlp", "zipkin", "console", "none")


def _requested() -> bool:
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return any(k.startswith("OTEL_") and v.strip() for k, v in os.environ.items())


def _exporter(name: str) -> Any:
    # Each exporter reads its own endpoint from the environment, as the SDK documents.
    if name == "zipkin":
        from opentelemetry.exporter.zipkin.json import ZipkinExporter

        return ZipkinExporter()
    if name == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter

    return ConsoleSpanExporter()


def setup_tracing(app: Any) -> bool:
    """Install a tracer provider from `OTEL_*` and register Faust's sensor on `app`; True
    when tracing is on."""
    if not _requested():
        return False
    from faust.contrib.opentelemetry import setup_opentelemetry
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    raw = os.environ.get("OTEL_TRACES_EXPORTER", "").strip() or "otlp"
    names = [n.strip().lower() for n in raw.split(",") if n.strip()]
    unknown = [n for n in names if n not in _EXPORTERS]
    if unknown:
        raise ValueError(f"OTEL_TRACES_EXPORTER: {', '.join(unknown)} is not one of {_EXPORTERS}")
    provider = TracerProvider(resource=Resource.create())  # OTEL_SERVICE_NAME and the rest
    for name in names:
        if name != "none":
            provider.add_span_processor(BatchSpanProcessor(_exporter(name)))
    trace.set_tracer_provider(provider)
    atexit.register(provider.shutdown)  # what is queued is exported as the worker exits
    setup_opentelemetry(app)
    return True
