"""`DELETE /users/v1/users/{id}`: erase a user (docs/erasure.md), under `users:erase`.

Faust serves one view per path: `web.users.UserView.delete` hands the request here."""

from __future__ import annotations

import logging

from faust.web import Request, Response

from streamapp.app import app
from users_service.domain.access import USERS_ERASE
from users_service.domain.model import is_uuid
from web.auth import authorize
from web.responses import ApiError, ApiView

log = logging.getLogger("users.erasure")


async def erase_user(view: ApiView, request: Request, user_id: str) -> Response:
    """204 when the user was erased; 404 when no user has this id (or erased already)."""
    await authorize(request, USERS_ERASE)
    erased = is_uuid(user_id, canonical=True) and await app.users.erasure.erase(user_id)
    if not erased:
        raise ApiError(404, "not_found", "no user has this id (or it was erased already)")
    # The id only: a token's subject may itself be someone's email.
    log.info("user %s erased", user_id)
    return view.bytes(b"", status=204)
