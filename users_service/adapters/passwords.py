"""bcrypt, run in a worker thread so the event loop keeps serving."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import bcrypt


@dataclass(frozen=True)
class BcryptHasher:
    """Hashes at a fixed cost; bcrypt releases the GIL, so threads hash in parallel."""

    rounds: int = 12

    async def hash(self, password: str) -> str:
        """Hash `password` in the default executor and return the `$2b$…` string."""
        return await asyncio.to_thread(self.hash_sync, password)

    async def verify(self, password: str, password_hash: str) -> bool:
        """True when `password` matches `password_hash` (also off the event loop)."""
        return await asyncio.to_thread(
            bcrypt.checkpw, password.encode("utf-8"), password_hash.encode("ascii")
        )

    def hash_sync(self, password: str) -> str:
        """Hash on the calling thread (for benchmarks and tools)."""
        return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(self.rounds)).decode("ascii")
