"""One shape for every error: `{"error": {"code", "message", "fields"?}}`, and the mapping
from the service layer's errors to HTTP statuses."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from faust.web import Request, Response, View
from faust.web.exceptions import WebError

from users_service.domain.access import AuthUnavailable
from users_service.domain.errors import (
    EmailAlreadyRegistered,
    IdempotencyKeyReused,
    InvalidInput,
    OutcomeUnknown,
    Overloaded,
    StorageUnavailable,
    UsersError,
)
from web.log_quoting import quoted

log = logging.getLogger("users.http")

RETRY_SOON = {"Retry-After": "1"}


class ApiError(WebError):
    """Raised by views and request helpers; rendered by ApiView in the common shape."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        fields: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message, code=status)
        self.error_code = code
        self.message = message
        self.fields = dict(fields) if fields else None
        self.headers = dict(headers or {})


def from_service_error(exc: UsersError) -> ApiError:
    """The HTTP answer to an expected failure of the service layer."""
    if isinstance(exc, InvalidInput):
        return ApiError(422, exc.code, "fields are missing or invalid", fields=exc.fields)
    if isinstance(exc, EmailAlreadyRegistered):
        return ApiError(
            409,
            exc.code,
            "a user with this email already exists",
            fields={"email": "is already registered"},
        )
    if isinstance(exc, IdempotencyKeyReused):
        return ApiError(
            422,
            exc.code,
            "this Idempotency-Key was used with a different request body",
            fields={"Idempotency-Key": "was used with a different body"},
        )
    if isinstance(exc, AuthUnavailable):
        return ApiError(
            503, exc.code, "the identity provider cannot be reached", headers=RETRY_SOON
        )
    if isinstance(exc, Overloaded):
        return ApiError(
            503,
            exc.code,
            "too many sign-ups are being processed; retry shortly",
            headers=RETRY_SOON,
        )
    if isinstance(exc, OutcomeUnknown):
        return ApiError(
            503,
            exc.code,
            "the connection to the database broke while the request was being committed, "
            "so whether it took effect is unknown; retry with the same Idempotency-Key "
            "(it answers the first result if there was one), or check before retrying",
            headers=RETRY_SOON,
        )
    if isinstance(exc, StorageUnavailable):
        return ApiError(503, exc.code, "the database is unavailable", headers=RETRY_SOON)
    return ApiError(500, "internal_error", "unexpected error")


def error_document(exc: ApiError) -> dict[str, Any]:
    """The JSON body of an error answer: `{"error": {"code", "message", "fields"?}}`."""
    body: dict[str, Any] = {"code": exc.error_code, "message": exc.message}
    if exc.fields:
        body["fields"] = exc.fields
    return {"error": body}


class ApiView(View):
    """A Faust view whose errors, its own and the service layer's, share one JSON shape."""

    async def dispatch(self, request: Any) -> Any:
        try:
            return await super().dispatch(request)
        except UsersError as exc:
            return await self.on_request_error(request, from_service_error(exc))
        except WebError:
            raise
        except Exception:
            # A bug. The client still gets the API's JSON shape, and the log the traceback.
            log.exception(
                "unexpected error answering %s %s", quoted(request.method), quoted(request.path)
            )
            return await self.on_request_error(
                request, ApiError(500, "internal_error", "unexpected error")
            )

    async def on_request_error(self, request: Request, exc: WebError) -> Response:
        if isinstance(exc, ApiError):
            return self.json(error_document(exc), status=exc.code, headers=exc.headers)
        return self.json(
            {"error": {"code": "http_error", "message": str(exc.detail)}}, status=exc.code
        )
