"""`/users/v1/users`: decode the request, call the service, encode the answer."""

from __future__ import annotations

from faust.web import Request, Response

from streamapp.app import app
from users_service.domain.access import USERS_READ, USERS_WRITE
from users_service.domain.model import User, is_uuid
from web.auth import authorize
from web.erasure import erase_user
from web.requests import (
    encode_cursor,
    idempotency_key,
    page_parameters,
    read_json_object,
)
from web.responses import RETRY_SOON, ApiError, ApiView


def _created(view: ApiView, user: User) -> Response:
    return view.json(user.public(), status=201, headers={"Location": f"/users/v1/users/{user.id}"})


@app.page("/users/v1/users")
class UsersView(ApiView):
    """Create users; list them."""

    async def post(self, request: Request) -> Response:
        if app.settings.auth_require_for_create:
            await authorize(request, USERS_WRITE)
        if not app.lifecycle.accepting_requests:
            raise ApiError(
                503, "shutting_down", "the service is shutting down; retry", headers=RETRY_SOON
            )
        key = idempotency_key(request)
        body = await read_json_object(request, app.settings.http_max_body_bytes)
        user = await app.users.register(body, idempotency_key=key)
        return _created(self, user)

    async def get(self, request: Request) -> Response:
        await authorize(request, USERS_READ)
        after, limit = page_parameters(request)
        users, last = await app.users.list_users(after, limit)
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
        user = await app.users.get(user_id) if is_uuid(user_id, canonical=True) else None
        if user is None:
            raise ApiError(404, "not_found", "no user has this id")
        return self.json(user.public())

    async def delete(self, request: Request, user_id: str) -> Response:
        return await erase_user(self, request, user_id)
