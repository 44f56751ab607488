"""Whether this worker takes new work, and the work it has in flight, for shutdown."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class Lifecycle:
    """Open from start; `start_draining()` at shutdown makes new requests answer 503.

    Consumers mark each batch they handle with `working()`, so shutdown can give them a
    bounded moment to finish (`wait_idle`) before the worker stops them."""

    def __init__(self) -> None:
        self._accepting = True
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def accepting_requests(self) -> bool:
        """False once shutdown has begun."""
        return self._accepting

    def start_draining(self) -> None:
        """Refuse new work from now on; what is in flight finishes."""
        self._accepting = False

    @contextlib.asynccontextmanager
    async def working(self) -> AsyncIterator[None]:
        """Count the enclosed work as in flight."""
        self._in_flight += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.set()

    async def wait_idle(self, timeout: float) -> bool:
        """Wait until no work is in flight, at most `timeout` seconds; True when idle."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout=timeout)
        except TimeoutError:
            return False
        return True
