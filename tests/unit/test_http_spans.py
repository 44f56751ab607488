"""web.http_spans on a plain aiohttp application (the one Faust builds is the same kind):
the client's traceparent continued, names and attributes per the HTTP conventions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from web.http_spans import span_name, traced

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
def exported() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
async def client(exported: InMemorySpanExporter, aiohttp_client: ClientFactory) -> Any:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exported))
    tracer = provider.get_tracer("tests")

    @web.middleware
    async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        return await traced(tracer, request, handler)

    async def user(request: web.Request) -> web.Response:
        if request.match_info["user_id"] == "boom":
            raise RuntimeError("password=hunter2-in-an-exception")
        if request.match_info["user_id"] == "missing":
            raise web.HTTPNotFound()
        return web.json_response({"id": request.match_info["user_id"]})

    application = web.Application(middlewares=[middleware])
    application.router.add_get("/users/v1/users/{user_id}", user)
    return await aiohttp_client(application)


def only_span(exported: InMemorySpanExporter) -> ReadableSpan:
    [span] = exported.get_finished_spans()
    return span


async def test_the_client_s_traceparent_is_continued_under_the_route_template(
    client: Any, exported: InMemorySpanExporter
) -> None:
    resp = await client.get("/users/v1/users/u-123", headers={"traceparent": TRACEPARENT})
    assert resp.status == 200
    span = only_span(exported)
    assert span.name == "GET /users/v1/users/{user_id}"
    assert span.kind is SpanKind.SERVER
    assert format(span.context.trace_id, "032x") == TRACE_ID
    assert span.parent is not None and format(span.parent.span_id, "016x") == PARENT_ID
    assert span.parent.is_remote
    attributes = dict(span.attributes or {})
    assert attributes["http.request.method"] == "GET"
    assert attributes["http.route"] == "/users/v1/users/{user_id}"
    assert attributes["url.path"] == "/users/v1/users/u-123"
    assert attributes["http.response.status_code"] == 200
    assert attributes["server.address"] == "127.0.0.1"
    assert span.status.status_code is StatusCode.UNSET


async def test_without_traceparent_the_request_starts_a_trace(
    client: Any, exported: InMemorySpanExporter
) -> None:
    await client.get("/users/v1/users/u-1")
    span = only_span(exported)
    assert span.parent is None and span.context.trace_id != int(TRACE_ID, 16)


async def test_a_client_error_is_not_an_error_of_the_server_span(
    client: Any, exported: InMemorySpanExporter
) -> None:
    resp = await client.get("/users/v1/users/missing")
    assert resp.status == 404
    span = only_span(exported)
    assert span.attributes is not None and span.attributes["http.response.status_code"] == 404
    assert span.status.status_code is StatusCode.UNSET and "error.type" not in span.attributes


async def test_an_unmatched_path_stays_out_of_the_span_name(
    client: Any, exported: InMemorySpanExporter
) -> None:
    resp = await client.get("/some/long/path/" + "x" * 200)
    assert resp.status == 404
    span = only_span(exported)
    assert span.name == "GET"
    assert span.attributes is not None and "http.route" not in span.attributes


async def test_a_failure_is_named_by_its_class_and_its_message_is_not_exported(
    client: Any, exported: InMemorySpanExporter
) -> None:
    resp = await client.get("/users/v1/users/boom")
    assert resp.status == 500
    span = only_span(exported)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None and span.attributes["error.type"] == "RuntimeError"
    assert span.attributes["http.response.status_code"] == 500
    assert not span.events  # no exception event: its message quotes whatever it quotes
    assert "hunter2" not in span.to_json()


@pytest.mark.parametrize(
    ("method", "route", "name"),
    [
        ("POST", "/users/v1/users", "POST /users/v1/users"),
        ("GET", None, "GET"),
        ("BREW", "/users/v1/users", "HTTP /users/v1/users"),
        ("BREW", None, "HTTP"),
    ],
)
def test_span_names(method: str, route: str | None, name: str) -> None:
    assert span_name(method, route) == name
