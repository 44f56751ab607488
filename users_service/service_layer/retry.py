"""One backoff policy for every loop that waits for a dependency to come back."""

from __future__ import annotations

import asyncio
import logging
import time
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


DEFAULT_BACKOFF = Backoff()


async def retry_while_unavailable(
    call: Callable[[], Awaitable[T]],
    *,
    what: str,
    log: logging.Logger,
    backoff: Backoff = DEFAULT_BACKOFF,
    give_up_after: float | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Await `call()` until it does not raise StorageUnavailable; other errors propagate.

    For work that must not be skipped while the database is away: a consumer holds its
    partition rather than let an offset pass an unhandled message. After `give_up_after`
    seconds the last StorageUnavailable is raised, for the caller to set the work aside."""
    deadline = None if give_up_after is None else clock() + give_up_after
    for delay in backoff.delays():
        try:
            return await call()
        except StorageUnavailable:
            if deadline is not None and clock() >= deadline:
                raise
            log.warning("database unavailable; %s again in %.1fs", what, delay)
            await sleep(delay)
    raise AssertionError("unreachable: delays() never ends")
