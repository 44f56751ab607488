"""The HTTP server span of every request, continuing the client's W3C `traceparent`.

Named and attributed per OpenTelemetry's HTTP semantic conventions: `POST
/users/v1/users/{user_id}` (the route template, never the raw path: ids and arbitrary paths
stay out of span names), `http.request.method`, `http.route`, `url.path`,
`http.response.status_code`, `error.type` for a 5xx. Exceptions are not recorded on the
span (their messages may quote input): a failure is named by its class only.

Done here, in the middleware of Faust's aiohttp application, rather than by
opentelemetry-instrumentation-aiohttp-server: the route template is already resolved here
for the metrics, and that instrumentation patches `aiohttp.web.Application` before Faust
builds its own, and records exception messages.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# The methods the conventions know; any other is `_OTHER` (a client may send any token).
_KNOWN_METHODS = frozenset(
    {"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"}
)
# nginx's status for a request its client abandoned: nothing was answered, and it is
# not a server error (a 5xx alert must not page on clients hanging up).
CLIENT_CLOSED_REQUEST = 499


def span_name(method: str, route: str | None) -> str:
    """`{method} {route}`, or the method alone when no route matched (`HTTP` for a
    method the conventions do not know)."""
    known = method if method in _KNOWN_METHODS else "HTTP"
    return f"{known} {route}" if route else known


def _route_template(request: web.Request) -> str | None:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else None


def _start_attributes(request: web.Request, route: str | None) -> dict[str, str | int]:
    method = request.method if request.method in _KNOWN_METHODS else "_OTHER"
    attributes: dict[str, str | int] = {
        "http.request.method": method,
        "url.path": request.path,
        "url.scheme": request.scheme,
        "network.protocol.version": f"{request.version.major}.{request.version.minor}",
    }
    if method == "_OTHER":
        attributes["http.request.method_original"] = request.method
    if route:
        attributes["http.route"] = route
    host, _, port = request.host.rpartition(":")
    if host and port.isdigit():
        attributes["server.address"], attributes["server.port"] = host, int(port)
    elif request.host:
        attributes["server.address"] = request.host
    if request.remote:
        attributes["client.address"] = request.remote
    agent = request.headers.get("User-Agent")
    if agent:
        attributes["user_agent.original"] = agent
    return attributes


async def traced(tracer: Tracer, request: web.Request, handler: Handler) -> web.StreamResponse:
    """`handler(request)` inside a SERVER span, child of the client's `traceparent`."""
    route = _route_template(request)
    parent = propagate.extract(request.headers)
    with tracer.start_as_current_span(
        span_name(request.method, route),
        context=parent,
        kind=SpanKind.SERVER,
        attributes=_start_attributes(request, route),
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        status: int | None = None
        error: str | None = None
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        except asyncio.CancelledError:
            if request.transport is None or request.transport.is_closing():
                status = CLIENT_CLOSED_REQUEST
            else:
                error = "CancelledError"
            raise
        except Exception as exc:
            error = type(exc).__qualname__  # aiohttp answers it with a 500
            status = 500
            raise
        finally:
            if status is not None:
                span.set_attribute("http.response.status_code", status)
            # Server spans: a 4xx is the client's, not an error of this span.
            if error is not None or (status is not None and status >= 500):
                error_type = error or str(status)
                span.set_attribute("error.type", error_type)
                span.set_status(Status(StatusCode.ERROR))


def trace_exemplar() -> dict[str, str] | None:
    """The current sampled span's ids as a histogram exemplar (`trace_id`, `span_id`, as
    OpenMetrics' examples name them), or None: outside a span, while tracing is off, or
    for a trace not sampled (an exemplar must lead to a trace that exists)."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid or not context.trace_flags.sampled:
        return None
    return {"trace_id": f"{context.trace_id:032x}", "span_id": f"{context.span_id:016x}"}
