"""`/users/v1/users`: decode the request, call the service, encode the answer."""

from __future__ import annotations

from faust.web import Request, Response

from streamapp.app import app
from users_service.domain.access import USERS_READ, USERS_WRITE
from users_service.domain.model import User, is_uuid
from users_service.service_layer.registration import Idempotency, RegisterUser
from web.auth import authorize
from web.erasure import erase_user
from web.requests import (
    body_fingerprint,
    encode_cursor,
    idempotency_key,
    page_parameters,
    read_json_object,
)
from web.responses import RETRY_SOON, ApiError, ApiView


def _created(view: ApiView, user: User) -> Response:
    return view.json(user.public(), status=201, headers={"Location": f"/users/v1/users/{user.id}"})


async def _register_user(request: Request) -> RegisterUser:
    """The sign-up in `request`: its JSON object, and its Idempotency-Key with the body's
    fingerprint (the body is known only here)."""
    key = idempotency_key(request)
    body = await read_json_object(request, app.settings.http.max_body_bytes)
    idempotency = Idempotency(key, body_fingerprint(body)) if key is not None else None
    return RegisterUser(body, idempotency)


@app.page("/users/v1/users")
class UsersView(ApiView):
    """Create users; list them."""

    async def post(self, request: Request) -> Response:
        if app.settings.auth.require_for_create:
            await authorize(request, USERS_WRITE)
        if not app.lifecycle.accepting_requests:
            raise ApiError(
                503, "shutting_down", "the service is shutting down; retry", headers=RETRY_SOON
            )
        user = await app.users.registration.register(await _register_user(request))
        return _created(self, user)

    async def get(self, request: Request) -> Response:
        await authorize(request, USERS_READ)
        after, limit = page_parameters(request)
        users, last = await app.users.directory.list_users(after, limit)
        return self.json(
            {
                "items": [u.public() for u in users],
                "nextCursor": encode_cursor(last) if last else None,
            }
        )


@app.page("/users/v1/users/{user_id}")
class UserView(ApiView):
    """One user: read it, or erase it (`web.erasure`)."""

    async def get(self, request: Request, user_id: str) -> Response:
        await authorize(request, USERS_READ)
        user = await app.users.directory.get(user_id) if is_uuid(user_id, canonical=True) else None
        if user is None:
            raise ApiError(404, "not_found", "no user has this id")
        return self.json(user.public())

    async def delete(self, request: Request, user_id: str) -> Response:
        return await erase_user(self, request, user_id)
