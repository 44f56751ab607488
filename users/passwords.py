"""bcrypt hashing, run in a worker thread so the event loop keeps serving."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import bcrypt


@dataclass(frozen=True)
class BcryptHasher:
    """Hashes with bcrypt at a fixed cost; bcrypt releases the GIL, so threads run in parallel."""

    rounds: int = 12

    async def __call__(self, password: str) -> str:
        """Hash `password` in the default executor and return the `$2b$…` string."""
        return await asyncio.to_thread(self.hash_sync, password)

    def hash_sync(self, password: str) -> str:
        """Hash on the calling thread (for benchmarks and tools)."""
        return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(self.rounds)).decode("ascii")


def verify_password(password: str, password_hash: str) -> bool:
    """True when `password` matches the stored bcrypt hash."""
    return bcrypt.checkpw(password.encode("utf-8"), password_hash.encode("ascii"))
