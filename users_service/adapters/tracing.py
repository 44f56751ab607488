"""OpenTelemetry tracing, configured the standard way: from the SDK's own environment
variables, so that an operator who knows OpenTelemetry has nothing new to learn.

- Off when no `OTEL_*` variable is set, or with `OTEL_SDK_DISABLED=true`: no provider is
  installed, no exporter built, no thread started (the API stays a no-op).
- `OTEL_TRACES_EXPORTER`: `otlp` (the default, OTLP over HTTP/protobuf to
  `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), `zipkin` (JSON
  to `OTEL_EXPORTER_ZIPKIN_ENDPOINT`), `console`, `none`, or several, comma-separated.
- `OTEL_SERVICE_NAME` / `OTEL_RESOURCE_ATTRIBUTES` (default service name `users-service`),
  `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG`, `OTEL_BSP_*`, `OTEL_PROPAGATORS`:
  read by the SDK itself, as it documents them.

The SDK is imported only when tracing is on. Nothing here runs at import time: the
worker calls `configure_tracing` as it starts, and `Tracing.shutdown` as it stops.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

DEFAULT_SERVICE_NAME = "users-service"
EXPORTERS = ("otlp", "zipkin", "console", "none")
# The protocols the installed OTLP exporter speaks (the gRPC one is not installed).
_OTLP_PROTOCOLS = frozenset({"", "http/protobuf"})


class TracingConfigError(ValueError):
    """An `OTEL_*` setting this service cannot honour (named in the message)."""


def tracing_requested(environ: Mapping[str, str] = os.environ) -> bool:
    """True when any `OTEL_*` variable is set (not empty) and the SDK is not disabled."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    # Empty is unset, as the SDK reads them (a compose file's `OTEL_SERVICE_NAME=`).
    return any(name.startswith("OTEL_") and value.strip() for name, value in environ.items())


def exporter_names(environ: Mapping[str, str] = os.environ) -> list[str]:
    """`OTEL_TRACES_EXPORTER` as a list (default `otlp`); fails on a name not offered."""
    raw = environ.get("OTEL_TRACES_EXPORTER", "").strip() or "otlp"
    names = [name.strip().lower() for name in raw.split(",") if name.strip()]
    unknown = [name for name in names if name not in EXPORTERS]
    if unknown:
        raise TracingConfigError(
            f"OTEL_TRACES_EXPORTER: {', '.join(unknown)} is not one of {', '.join(EXPORTERS)}"
        )
    if "none" in names:
        return []
    return list(dict.fromkeys(names))


def _otlp_protocol(environ: Mapping[str, str]) -> str:
    return (
        environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or ""
    ).strip()


def _exporter(name: str, environ: Mapping[str, str]) -> SpanExporter:
    # Each exporter reads its own endpoint, headers and timeout from the environment.
    if name == "otlp":
        protocol = _otlp_protocol(environ)
        if protocol not in _OTLP_PROTOCOLS:
            raise TracingConfigError(
                f"OTEL_EXPORTER_OTLP_PROTOCOL: {protocol} is not offered (http/protobuf is)"
            )
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    if name == "zipkin":
        from opentelemetry.exporter.zipkin.json import ZipkinExporter

        return ZipkinExporter()
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter

    # One compact JSON object per line, on the process's real stdout beside the JSON logs
    # (the SDK's default is indented JSON, many lines a span; Faust redirects sys.stdout).
    return ConsoleSpanExporter(
        out=sys.__stdout__ or sys.stdout,
        formatter=lambda span: span.to_json(indent=None) + os.linesep,
    )


@dataclass(frozen=True)
class Tracing:
    """The process's tracer provider and what it exports to."""

    provider: TracerProvider
    exporters: tuple[str, ...]

    def describe(self) -> str:
        """One phrase for the worker's start line."""
        service = self.provider.resource.attributes.get("service.name", "?")
        sampler = self.provider.sampler.get_description()
        where = ", ".join(self.exporters) or "no exporter"
        return f"on ({where}; service {service}; sampler {sampler})"

    def shutdown(self) -> None:
        """Export what is still queued (bounded by the exporters' timeouts), then stop."""
        self.provider.shutdown()


def build_tracing(environ: Mapping[str, str] = os.environ) -> Tracing | None:
    """A tracer provider as the `OTEL_*` variables ask, not installed; None when off."""
    if not tracing_requested(environ):
        return None
    names = exporter_names(environ)
    exporters = [_exporter(name, environ) for name in names]

    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    # Resource.create reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES; the SDK's
    # fallback name ("unknown_service:python3") says nothing to whoever reads the trace.
    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: DEFAULT_SERVICE_NAME}))
    # The sampler comes from OTEL_TRACES_SAMPLER(_ARG), the batch sizes from OTEL_BSP_*.
    # No atexit flush of the SDK's: the worker flushes as it stops (`Tracing.shutdown`),
    # while its logging still writes what an exporter has to say, and a test holds it.
    provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return Tracing(provider, tuple(names))


def configure_tracing(environ: Mapping[str, str] = os.environ) -> Tracing | None:
    """Build the provider (`build_tracing`) and make it the process's global one, once."""
    tracing = build_tracing(environ)
    if tracing is not None:
        from opentelemetry import trace

        trace.set_tracer_provider(tracing.provider)
    return tracing
