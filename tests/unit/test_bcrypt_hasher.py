"""The bcrypt threads: hashes that verify, and threads kept busy while the loop is."""

from __future__ import annotations

import asyncio
import threading

import bcrypt

from tests.support.waiting import eventually
from users_service.adapters.passwords import BcryptHasher


async def test_a_hash_verifies_and_a_wrong_password_does_not() -> None:
    hasher = BcryptHasher(rounds=4, workers=1)
    hashed = await hasher.hash("s3cret-pass")
    assert bcrypt.checkpw(b"s3cret-pass", hashed.encode())
    assert await hasher.verify("s3cret-pass", hashed)
    assert not await hasher.verify("other-pass", hashed)


async def test_a_thread_starts_its_next_hash_while_the_event_loop_is_busy() -> None:
    # Under load the loop is slow to come back to a finished hash. The next one must not
    # wait for it: it is already queued on the thread.
    finished: list[float] = []
    both_done = threading.Event()

    def observe(seconds: float) -> None:  # called on the bcrypt thread, one at a time
        finished.append(seconds)
        if len(finished) == 2:
            both_done.set()

    # Rounds 12 (about a quarter of a second): the first is still hashing when both are in.
    hasher = BcryptHasher(rounds=12, workers=1, observe=observe)
    first = asyncio.create_task(hasher.hash("first-password"))
    second = asyncio.create_task(hasher.hash("second-password"))

    async def both_handed_over() -> bool:
        return hasher.slots.running == 2

    await eventually(both_handed_over, timeout=5, what="both hashes handed to the pool")
    # Now hold the loop (as a burst of requests would) until both hashes are done, or a
    # deadline: nothing on the loop can run meanwhile.
    assert both_done.wait(timeout=5), "the second hash waited for the event loop"
    await asyncio.gather(first, second)
