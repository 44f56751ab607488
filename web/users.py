"""`/users/v1/users`: decode the request, call the service, encode the answer."""

from __future__ import annotations

import json
from typing import Any, cast

from aiohttp import web
from faust.web import Request, Response, View

from streamapp.app import app
from users.errors import EmailAlreadyRegistered, InvalidInput, StorageUnavailable
from web.responses import error

JSON_TYPES = ("application/json",)


def _is_json(content_type: str) -> bool:
    return content_type in JSON_TYPES or (
        content_type.startswith("application/") and content_type.endswith("+json")
    )


@app.page("/users/v1/users")
class UsersView(View):
    """Create users."""

    async def post(self, request: Request) -> Response:
        container = app.container
        if not container.accepting_requests:
            return error(
                self,
                503,
                "shutting_down",
                "the service is shutting down; retry",
                headers={"Retry-After": "1"},
            )
        if not _is_json(cast(web.Request, request).content_type):
            return error(self, 415, "unsupported_media_type", "send the body as application/json")
        raw = await request.read()
        try:
            body: Any = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return error(self, 400, "malformed_json", "the body is not valid JSON")
        if not isinstance(body, dict):
            return error(self, 400, "not_an_object", "the body must be a JSON object")
        try:
            user = await container.users.register(body)
        except InvalidInput as exc:
            return error(
                self, 422, exc.code, "some fields are missing or invalid", fields=exc.fields
            )
        except EmailAlreadyRegistered:
            return error(
                self,
                409,
                "duplicate_email",
                "a user with this email already exists",
                fields={"email": "is already registered"},
            )
        except StorageUnavailable:
            return error(
                self,
                503,
                "database_unavailable",
                "the database is unavailable; nothing was stored",
                headers={"Retry-After": "1"},
            )
        return self.json(
            user.public(), status=201, headers={"Location": f"/users/v1/users/{user.id}"}
        )
