"""Refusing sign-ups for overload cheaply. Under clients that retry at once, every refusal
costs the event loop and the machine's cores what the hashes in progress need: so the
refusal is decided before the request is read (`web.middleware.refuse_when_overloaded`),
its answer encoded once, refusals past a burst paced (`RefusalPace`), and counted and
logged as one line per window, not one a request."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping

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


class RefusalPace:
    """How long a refusal waits before it is answered: not at all for a burst of `burst`,
    then one each 1/`per_second` s in turn (a generic cell rate algorithm), never more
    than `max_wait` (the Retry-After the client is told).

    Cheap refusals are not enough on their own: clients that retry at once keep the event
    loop (and themselves) busy answering and asking, and every core they take is a core
    the hashes do not get. Paced, a retry storm costs at most about `per_second` refusals
    a second plus one a second per connection held the whole `max_wait`."""

    def __init__(
        self,
        per_second: float = 100.0,
        burst: int = 100,
        max_wait: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = 1.0 / per_second
        self.tolerance = burst * self.interval
        self.max_wait = max_wait
        self.clock = clock
        self._due = 0.0  # when the next refusal's turn comes, past the burst

    def delay(self) -> float:
        """Seconds the refusal asked now should wait before it is answered."""
        now = self.clock()
        due = max(self._due, now)
        wait = due - now - self.tolerance
        if wait > self.max_wait:
            return self.max_wait  # no turn taken: a backlog of turns never builds up
        self._due = due + self.interval
        return max(0.0, wait)


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
