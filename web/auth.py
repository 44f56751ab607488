"""Bearer authentication for views (RFC 6750): 401 with WWW-Authenticate for a missing or
invalid token, 403 for a valid one without the scope."""

from __future__ import annotations

from typing import cast

from aiohttp import web
from faust.web import Request

from streamapp.app import app
from users_service.domain.access import NotAuthenticated, Principal
from web.responses import ApiError

REALM = 'Bearer realm="users-service"'


def _unauthenticated(reason: str, *, token_given: bool) -> ApiError:
    # Without a token there is no error code to give (RFC 6750 3.1); with one, invalid_token.
    challenge = REALM
    if token_given:
        challenge += f', error="invalid_token", error_description="{reason}"'
    return ApiError(401, "unauthenticated", reason, headers={"WWW-Authenticate": challenge})


async def authorize(request: Request, scope: str) -> Principal:
    """The caller, when its bearer token is valid and grants `scope`; else an ApiError."""
    header = cast(web.Request, request).headers.get("Authorization", "")
    if not header:
        raise _unauthenticated("a bearer token is required", token_given=False)
    kind, _, token = header.partition(" ")
    if kind.lower() != "bearer" or not token.strip():
        raise _unauthenticated(
            "the Authorization header must carry a bearer token", token_given=True
        )
    try:
        principal = await app.tokens.principal(token.strip())
    except NotAuthenticated as exc:
        raise _unauthenticated(exc.reason, token_given=True) from None
    if scope not in principal.scopes:
        raise ApiError(
            403,
            "forbidden",
            f"the token does not grant the scope {scope}",
            headers={"WWW-Authenticate": f'{REALM}, error="insufficient_scope", scope="{scope}"'},
        )
    return principal
