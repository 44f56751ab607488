"""bcrypt, run in worker threads of its own so the event loop keeps serving."""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor

import bcrypt

from users_service.service_layer.admission import HashingSlots


class BcryptHasher:
    """Hashes at a fixed cost; bcrypt releases the GIL, so its threads hash in parallel.

    Its own pool of `workers` threads (one per core by default): hashing neither waits
    behind nor delays other work sent to the default executor, and `slots` bounds how many
    hashes wait (see HashingSlots)."""

    def __init__(self, rounds: int = 12, *, workers: int | None = None, queue: int = 16) -> None:
        self.rounds = rounds
        workers = workers or os.cpu_count() or 1
        self.slots = HashingSlots(workers, queue)
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bcrypt")

    async def hash(self, password: str, *, shed: bool = False) -> str:
        """Hash `password` off the event loop and return the `$2b$…` string; with `shed`,
        raise Overloaded instead of queueing past the limit."""
        async with self.slots.slot(shed=shed):
            return await asyncio.get_running_loop().run_in_executor(
                self._executor, self.hash_sync, password
            )

    async def verify(self, password: str, password_hash: str, *, shed: bool = False) -> bool:
        """True when `password` matches `password_hash` (as costly as hashing, and bounded
        the same way)."""
        async with self.slots.slot(shed=shed):
            return await asyncio.get_running_loop().run_in_executor(
                self._executor,
                bcrypt.checkpw,
                password.encode("utf-8"),
                password_hash.encode("ascii"),
            )

    def hash_sync(self, password: str) -> str:
        """Hash on the calling thread (for benchmarks and tools)."""
        return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(self.rounds)).decode("ascii")
