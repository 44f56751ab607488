"""Middleware for every request, installed through a Faust Blueprint found by autodiscovery
like the views (so the app module never imports the web package):

- `refuse_when_overloaded`, outermost: a sign-up the hash queue could not take is
  answered `503 overloaded` before anything else is done for it (`web.shedding`).
- `trace_requests`, next, when the worker traces: the HTTP server span
  (`web.http_spans`), so that every log line of the request carries its trace id.
- `observe_requests`: a request id (the client's `X-Request-ID`, or a new one)
  on every log line of the request and echoed in the response; one log line per request;
  the HTTP metrics, labelled by route template (never the raw path: ids would make every
  user a time series of its own).
- `json_http_errors`: aiohttp answers 404/405 in plain text; clients get JSON.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable

from aiohttp import web
from faust.web import Blueprint
from faust.web import Web as FaustWeb

from streamapp.app import app
from users_service.domain.patterns import linear
from users_service.service_layer import log_context
from web.http_spans import CLIENT_CLOSED_REQUEST, trace_exemplar, traced
from web.log_quoting import quoted
from web.shedding import RefusalLog, RefusalPace, overloaded_response

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

log = logging.getLogger("users.http")

REQUEST_ID_HEADER = "X-Request-ID"
# A client's id is kept only when it is short and plain: it goes into every log line.
_CLIENT_REQUEST_ID = linear(r"^[A-Za-z0-9._:\-]{1,128}$")
# Probed every few seconds by orchestrators and Prometheus: logged at DEBUG, not INFO.
_QUIET_ROUTES = frozenset({"/livez", "/readyz", "/metrics", "/"})
SIGN_UP_ROUTE = "/users/v1/users"
_refusals = RefusalLog(log)
_pace = RefusalPace()


def request_id_of(request: web.Request) -> str:
    """The client's X-Request-ID when it is plain enough to log, else a new one."""
    given = request.headers.get(REQUEST_ID_HEADER, "")
    return given if _CLIENT_REQUEST_ID.match(given) else uuid.uuid4().hex


def route_of(request: web.Request) -> str:
    """The route template (`/users/v1/users/{user_id}`), or "unmatched"."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def observe_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Request id, one log line and the HTTP metrics for every request."""
    request_id = request_id_of(request)
    started = time.perf_counter()
    status = 500
    with log_context.scope(request_id=request_id):
        try:
            response = await handler(request)
            status = response.status
            response.headers[REQUEST_ID_HEADER] = request_id
            return response
        except web.HTTPException as exc:
            status = exc.status
            exc.headers[REQUEST_ID_HEADER] = request_id
            raise
        except asyncio.CancelledError:
            # aiohttp cancels the handler when its client leaves (with handler_cancellation);
            # a cancel with the client still there is the server stopping: left a 500.
            if request.transport is None or request.transport.is_closing():
                status = CLIENT_CLOSED_REQUEST
            raise
        finally:
            elapsed = time.perf_counter() - started
            route = route_of(request)
            metrics = app.service_metrics
            metrics.http_requests.labels(route, request.method, str(status)).inc()
            metrics.http_duration.labels(route, request.method).observe(
                elapsed, exemplar=trace_exemplar()
            )
            log.log(
                logging.DEBUG if route in _QUIET_ROUTES else logging.INFO,
                "%s %s %d %.1fms",
                quoted(request.method),
                quoted(request.path),
                status,
                elapsed * 1000,
                extra={"http_status": status, "route": route, "duration_ms": elapsed * 1000},
            )


@web.middleware
async def refuse_when_overloaded(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A sign-up that would be refused for overload is refused here, before its body is
    read, its token checked, or a span or a log line made for it: a refusal must cost far
    less than the hashes it protects. Counted (the metrics), logged in aggregate, and
    paced past a burst (`web.shedding.RefusalPace`)."""
    if (
        request.method == "POST"
        and route_of(request) == SIGN_UP_ROUTE
        and app.users.registration.turn_away()
    ):
        _refusals.refused()
        metrics = app.service_metrics
        metrics.http_requests.labels(SIGN_UP_ROUTE, "POST", "503").inc()
        delay = _pace.delay()
        if delay:
            await asyncio.sleep(delay)
        return overloaded_response({REQUEST_ID_HEADER: request_id_of(request)})
    return await handler(request)


@web.middleware
async def trace_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The request inside an HTTP server span; nothing at all while tracing is off, nor
    for the probes (a trace every few seconds from every orchestrator says nothing)."""
    tracer = app.http_tracer
    if tracer is None or route_of(request) in _QUIET_ROUTES:
        return await handler(request)
    return await traced(tracer, request, handler)


@web.middleware
async def json_http_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """aiohttp answers 404/405 in plain text; clients of this API always get JSON."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status, "http_error")
        return web.json_response(
            {"error": {"code": code, "message": exc.reason}},
            status=exc.status,
            headers={k: v for k, v in exc.headers.items() if k.lower() == "allow"},
        )


class RequestMiddleware(Blueprint):
    """Adds the middlewares to the aiohttp application when the web server is set up."""

    def on_webserver_init(self, web: FaustWeb) -> None:
        middlewares = web.web_app.middlewares  # type: ignore[attr-defined]
        if observe_requests not in middlewares:
            middlewares.insert(0, observe_requests)
        if trace_requests not in middlewares:
            middlewares.insert(0, trace_requests)
        if refuse_when_overloaded not in middlewares:
            middlewares.insert(0, refuse_when_overloaded)
        if json_http_errors not in middlewares:
            middlewares.append(json_http_errors)


app.web.blueprints.add("", RequestMiddleware("request_middleware"))
