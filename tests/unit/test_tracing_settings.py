"""users_service.adapters.tracing: the SDK configured from the OTEL_* variables, and
nothing at all without them."""

from __future__ import annotations

import io
import json
import threading

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.exporter.zipkin.json import ZipkinExporter
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from users_service.adapters.tracing import (
    TracingConfigError,
    build_tracing,
    configure_tracing,
    exporter_names,
    tracing_requested,
)


@pytest.fixture(autouse=True)
def no_otel_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sets the variables it is about, whatever the runner's environment holds."""
    import os

    for name in [n for n in os.environ if n.startswith("OTEL_")]:
        monkeypatch.delenv(name)


def test_without_any_otel_variable_nothing_is_built_installed_or_started() -> None:
    threads = set(threading.enumerate())
    provider = trace.get_tracer_provider()
    assert not tracing_requested()
    assert configure_tracing() is None
    # The API's own provider is still the process's, and no exporter thread runs.
    assert trace.get_tracer_provider() is provider
    assert set(threading.enumerate()) == threads


def test_an_empty_otel_variable_is_unset() -> None:
    assert not tracing_requested({"OTEL_SERVICE_NAME": "", "OTEL_TRACES_EXPORTER": " "})
    assert tracing_requested({"OTEL_SERVICE_NAME": "users-a"})


def test_sdk_disabled_wins_over_every_other_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert build_tracing() is None


def test_otlp_over_http_is_the_default_exporter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "users-a")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
    tracing = build_tracing()
    assert tracing is not None
    try:
        assert tracing.exporters == ("otlp",)
        [processor] = tracing.provider._active_span_processor._span_processors
        assert isinstance(processor, BatchSpanProcessor)
        exporter = processor._batch_processor._exporter
        assert isinstance(exporter, OTLPSpanExporter)  # the HTTP one, not gRPC's
        # The SDK's own reading of the endpoint variable (the traces path appended).
        assert exporter._endpoint == "http://127.0.0.1:1/v1/traces"
        assert tracing.provider.resource.attributes["service.name"] == "users-a"
    finally:
        tracing.shutdown()


def test_zipkin_exporter_reads_its_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "zipkin")
    monkeypatch.setenv("OTEL_EXPORTER_ZIPKIN_ENDPOINT", "http://127.0.0.1:2/api/v2/spans")
    tracing = build_tracing()
    assert tracing is not None
    try:
        [processor] = tracing.provider._active_span_processor._span_processors
        exporter = processor._batch_processor._exporter  # type: ignore[attr-defined]
        assert isinstance(exporter, ZipkinExporter)
        assert exporter.endpoint == "http://127.0.0.1:2/api/v2/spans"
        # Without OTEL_SERVICE_NAME the trace still says which service it is.
        assert tracing.provider.resource.attributes["service.name"] == "users-service"
    finally:
        tracing.shutdown()


def test_the_sampler_is_the_sdk_s_reading_of_the_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0.25")
    tracing = build_tracing()
    assert tracing is not None
    try:
        assert "TraceIdRatioBased{0.25}" in tracing.provider.sampler.get_description()
        # `none`: spans are made (ids for the logs, the context continued), none exported.
        assert tracing.exporters == ()
        assert tracing.provider._active_span_processor._span_processors == ()
        assert "no exporter" in tracing.describe()
    finally:
        tracing.shutdown()


@pytest.mark.parametrize(
    ("raw", "names"),
    [
        ("", ["otlp"]),
        ("zipkin", ["zipkin"]),
        (" Zipkin , console ", ["zipkin", "console"]),
        ("otlp,otlp", ["otlp"]),
        ("none", []),
    ],
)
def test_exporter_names(raw: str, names: list[str]) -> None:
    assert exporter_names({"OTEL_TRACES_EXPORTER": raw}) == names


def test_an_exporter_not_offered_is_a_configuration_error() -> None:
    with pytest.raises(TracingConfigError, match="jaeger is not one of"):
        exporter_names({"OTEL_TRACES_EXPORTER": "otlp,jaeger"})


def test_otlp_over_grpc_is_refused_rather_than_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    with pytest.raises(TracingConfigError, match="grpc is not offered"):
        build_tracing()


def test_the_console_exporter_writes_one_json_line_a_span(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stream = io.StringIO()
    monkeypatch.setattr("sys.__stdout__", stream)
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    tracing = build_tracing()
    assert tracing is not None
    tracer = tracing.provider.get_tracer("tests")
    with tracer.start_as_current_span("one"), tracer.start_as_current_span("two"):
        pass
    tracing.shutdown()
    lines = stream.getvalue().splitlines()
    assert [json.loads(line)["name"] for line in lines] == ["two", "one"]
