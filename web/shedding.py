"""Refusing sign-ups for overload cheaply. Under clients that retry at once, every refusal
costs the event loop and the machine's cores what the hashes in progress need: so the
refusal is decided before the request is read (`web.middleware.refuse_when_overloaded`),
its answer encoded once, and refusals are counted and logged as one line per window,
not one a request."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from aiohttp import web
from faust.utils import json as faust_json

from users_service.domain.errors import Overloaded
from web.responses import error_document, from_service_error

OVERLOADED = from_service_error(Overloaded("the hash queue is full"))
# Encoded as Faust's View.json encodes every other answer, byte for byte.
_OVERLOADED_BODY = faust_json.dumps(error_document(OVERLOADED))
_BODY_BYTES = _OVERLOADED_BODY if isinstance(_OVERLOADED_BODY, bytes) else _OVERLOADED_BODY.encode()


def overloaded_response(headers: Mapping[str, str]) -> web.Response:
    """The documented `503 overloaded` (JSON, `Retry-After: 1`), with `headers` added."""
    return web.Response(
        body=_BODY_BYTES,
        status=OVERLOADED.code,
        content_type="application/json",
        charset="utf-8",
        headers={**OVERLOADED.headers, **headers},
    )


class RefusalLog:
    """Logs the first refusal of a storm at once, then at most one line per `window`
    seconds with how many were refused in it; quiet again after a window without any."""

    def __init__(self, logger: logging.Logger, window: float = 10.0) -> None:
        self.logger = logger
        self.window = window
        self.in_window = 0
        self.total = 0
        self._timer: asyncio.TimerHandle | None = None

    def refused(self) -> None:
        """Count one refusal (on the event loop)."""
        self.total += 1
        if self._timer is None:
            self.logger.warning(
                "refusing sign-ups: overloaded (503, every bcrypt slot and the hash queue "
                "taken); refusals are counted in user_create_rejected_total"
                '{code="overloaded"} and summed here every %g s',
                self.window,
            )
            self._open()
        else:
            self.in_window += 1

    def _open(self) -> None:
        self._timer = asyncio.get_running_loop().call_later(self.window, self._close)

    def _close(self) -> None:
        self._timer = None
        if self.in_window:
            self.logger.warning(
                "%d sign-ups refused as overloaded in the last %g s (%d since the start)",
                self.in_window,
                self.window,
                self.total,
            )
            self.in_window = 0
            self._open()
