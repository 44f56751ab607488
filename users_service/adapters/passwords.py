"""bcrypt, run in worker threads of its own so the event loop keeps serving."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from users_service.adapters import trace_context
from users_service.adapters.bcrypt_backends import BcryptBackend, fastest_safe_backend
from users_service.service_layer.admission import HashingSlots

T = TypeVar("T")

HANDED_OVER_PER_THREAD = 2


class BcryptHasher:
    """Hashes at a fixed cost; bcrypt releases the GIL, so its threads hash in parallel.

    Its own pool of `workers` threads (one per core by default): hashing neither waits
    behind nor delays other work sent to the default executor, and `slots` bounds how many
    hashes wait (see HashingSlots): two per thread are handed to the pool, the running one
    and the next, and at most `queue` more wait for that. `backend` is the implementation
    (by default the fastest that passes its self-test, see bcrypt_backends)."""

    def __init__(
        self,
        rounds: int = 12,
        *,
        workers: int | None = None,
        queue: int = 16,
        observe: Callable[[float], None] | None = None,
        backend: BcryptBackend | None = None,
    ) -> None:
        self.rounds = rounds
        self.backend = backend or fastest_safe_backend()
        # Told the seconds each hash or check took on its thread (the metrics' histogram).
        self.observe = observe
        workers = workers or os.cpu_count() or 1
        # Two hashes handed over per thread: each thread finds its next hash already queued
        # in the executor when it finishes one. With one per thread, it idled until the
        # event loop had run the finished hash's callback and the next request's
        # submission, a gap as long as a busy loop's turn, between every two hashes.
        self.slots = HashingSlots(workers * HANDED_OVER_PER_THREAD, queue)
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bcrypt")

    async def hash(self, password: str, *, shed: bool = False) -> str:
        """Hash `password` off the event loop and return the `$2b$…` string; with `shed`,
        raise Overloaded instead of queueing past the limit."""
        async with self.slots.slot(shed=shed):
            # Opened on the event loop, where the request's context is current: the thread
            # itself needs none (it only hashes). From the slot on, not the queue before it.
            with trace_context.work_span("bcrypt hash", {"bcrypt.cost": self.rounds}):
                return await asyncio.get_running_loop().run_in_executor(
                    self._executor, self._timed, self.hash_sync, password
                )

    async def verify(self, password: str, password_hash: str, *, shed: bool = False) -> bool:
        """True when `password` matches `password_hash` (as costly as hashing, and bounded
        the same way)."""
        async with self.slots.slot(shed=shed):
            return await asyncio.get_running_loop().run_in_executor(
                self._executor, self._timed, self._check, password, password_hash
            )

    @property
    def saturated(self) -> bool:
        """True when a hash asked with `shed` would be refused now (Overloaded)."""
        return self.slots.full

    @property
    def implementation(self) -> str:
        """The name of the bcrypt implementation in use (the start-up line, a metric)."""
        return self.backend.name

    def _check(self, password: str, password_hash: str) -> bool:
        return self.backend.check(password.encode("utf-8"), password_hash)

    def _timed(self, work: Callable[[str, str], T] | Callable[[str], T], *args: str) -> T:
        started = time.perf_counter()
        try:
            return work(*args)  # type: ignore[arg-type]
        finally:
            if self.observe is not None:
                self.observe(time.perf_counter() - started)

    def hash_sync(self, password: str) -> str:
        """Hash on the calling thread (for benchmarks and tools)."""
        return self.backend.hash(password.encode("utf-8"), self.rounds)
