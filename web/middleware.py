"""JSON errors for what never reaches a view: unknown paths and methods.

Installed through a Faust Blueprint, found by autodiscovery like the views, so the app
module never imports the web package.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from faust.web import Blueprint
from faust.web import Web as FaustWeb

from streamapp.app import app

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


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


class JsonErrors(Blueprint):
    """Adds `json_http_errors` to the aiohttp application when the web server is set up."""

    def on_webserver_init(self, web: FaustWeb) -> None:
        middlewares = web.web_app.middlewares  # type: ignore[attr-defined]
        if json_http_errors not in middlewares:
            middlewares.append(json_http_errors)


app.web.blueprints.add("", JsonErrors("json_errors"))
