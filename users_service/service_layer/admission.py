"""Admission to the expensive part of the work: bcrypt. A bounded number of hashes run at
once and a bounded number wait; past that an HTTP request is refused (503 and
Retry-After; the HTTP edge asks `full` before it even reads the request) instead of
queueing without limit, while a command waits its turn (Kafka holds the rest of the
backlog for it)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from users_service.domain.errors import Overloaded


class HashingSlots:
    """`workers` hashes at a time, at most `queue` more waiting for a slot."""

    def __init__(self, workers: int, queue: int) -> None:
        self.workers = workers
        self.queue = queue
        self._free = asyncio.Semaphore(workers)
        self.waiting = 0
        self.running = 0

    @property
    def full(self) -> bool:
        """True when a shedding caller would be refused now: every slot taken and `queue`
        others waiting already."""
        return self._free.locked() and self.waiting >= self.queue

    @contextlib.asynccontextmanager
    async def slot(self, *, shed: bool) -> AsyncIterator[None]:
        """Hold one slot for the enclosed hash; with `shed`, raise Overloaded rather than
        wait when every slot is taken and `queue` others already wait."""
        if shed and self.full:
            raise Overloaded(f"{self.running} hashing, {self.waiting} waiting")
        self.waiting += 1
        try:
            await self._free.acquire()
        finally:
            self.waiting -= 1
        self.running += 1
        try:
            yield
        finally:
            self.running -= 1
            self._free.release()
