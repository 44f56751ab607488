"""Exemplars: with tracing on, the HTTP latency histogram names the trace of a request
beside its bucket, in OpenMetrics (the one format that carries them); Prometheus' text
format, the default, is unchanged. On the in-process app, with a tracer provider of the
test's own (never the process's global one)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from streamapp.app import app
from tests.support.web import Client

OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"
ROUTE = "/users/v1/users"


@pytest.fixture
def traced_app(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    provider = TracerProvider(shutdown_on_exit=False)
    monkeypatch.setattr(app, "http_tracer", provider.get_tracer("test"))
    yield
    provider.shutdown()


def body() -> dict[str, str]:
    return {
        "nombre": "Ana",
        "email": f"ana-{secrets.token_hex(4)}@example.com",
        "password": "correct-horse",
    }


async def test_a_traced_request_is_an_exemplar_of_its_latency_bucket(
    client: Client, traced_app: None
) -> None:
    trace_id = secrets.token_hex(16)
    headers = {"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"}
    assert (await client.post(ROUTE, json=body(), headers=headers)).status == 201
    # Not sampled by its client: no exemplar (it would name a trace nobody kept).
    unsampled = secrets.token_hex(16)
    headers = {"traceparent": f"00-{unsampled}-{secrets.token_hex(8)}-00"}
    assert (await client.post(ROUTE, json=body(), headers=headers)).status == 201

    resp = await client.get("/metrics", headers={"Accept": OPENMETRICS})
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("application/openmetrics-text")
    exemplars = [
        sample.exemplar
        for family in text_string_to_metric_families(await resp.text())  # type: ignore[no-untyped-call]
        if family.name == "http_request_duration_seconds"
        for sample in family.samples
        if sample.exemplar is not None
        and sample.labels.get("route") == ROUTE
        and sample.labels.get("method") == "POST"
    ]
    trace_ids = {e.labels["trace_id"] for e in exemplars}
    assert trace_id in trace_ids and unsampled not in trace_ids
    assert all(len(e.labels["span_id"]) == 16 for e in exemplars)

    # Prometheus' text format (what a scraper gets unless it asks) carries none.
    text = await (await client.get("/metrics")).text()
    assert trace_id not in text


async def test_without_tracing_no_exemplar_is_recorded(client: Client) -> None:
    trace_id = secrets.token_hex(16)
    headers = {"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"}
    assert (await client.post(ROUTE, json=body(), headers=headers)).status == 201
    resp = await client.get("/metrics", headers={"Accept": OPENMETRICS})
    assert trace_id not in await resp.text()
