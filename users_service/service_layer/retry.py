"""One backoff policy for every loop that waits for a dependency to come back."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from users_service.domain.errors import StorageUnavailable

T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    """Delays that double from `first` up to `most` seconds."""

    first: float = 0.5
    most: float = 10.0

    def delays(self) -> Iterator[float]:
        """An endless series of delays: first, 2 * first, … capped at most."""
        delay = self.first
        while True:
            yield delay
            delay = min(delay * 2, self.most)


async def retry_while_unavailable(
    call: Callable[[], Awaitable[T]],
    *,
    what: str,
    log: logging.Logger,
    backoff: Backoff = Backoff(),
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """Await `call()` until it does not raise StorageUnavailable; other errors propagate.

    For work that must not be skipped while the database is away: a consumer holds its
    partition rather than let an offset pass an unhandled message."""
    for delay in backoff.delays():
        try:
            return await call()
        except StorageUnavailable:
            log.warning("database unavailable; %s again in %.1fs", what, delay)
            await sleep(delay)
    raise AssertionError("unreachable: delays() never ends")
