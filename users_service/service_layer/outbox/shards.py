"""Parallel relays: the outbox split into shards, each published by one relay at a time.

A worker's `ShardedRelay` runs one lane (an `OutboxRelay` on one shard's rows and lease)
per shard it holds. Every balancing round it beats its heartbeat, counts the live relays,
and holds its fair share: it gives back the shards beyond it (after their batch in
flight), and takes free or lapsed ones up to it. A lane whose lease was taken over stops.
Each lane keeps the fencing of a single relay, so per-key order holds in every shard.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from users_service.domain.sharding import Shard, fair_share
from users_service.service_layer.background import BackgroundLoop
from users_service.service_layer.outbox.ports import RelayMembers
from users_service.service_layer.outbox.relay import OutboxRelay

log = logging.getLogger("outbox")


class ShardedRelay:
    """The relay of `shards` shards, shared with the other workers' relays."""

    def __init__(
        self,
        lane_for: Callable[[Shard], OutboxRelay],
        members: RelayMembers,
        *,
        holder: str,
        shards: int,
        lease_ttl: float = 15.0,
        balance_every: float | None = None,
    ) -> None:
        self._lane_for = lane_for
        self._members = members
        self.holder = holder
        self.shards = shards
        self._lease_ttl = lease_ttl
        # Well within the TTL, so a live relay's heartbeat never lapses between rounds.
        self._balance_every = balance_every if balance_every is not None else lease_ttl / 3
        self._lanes: dict[int, OutboxRelay] = {}
        self._balancing = asyncio.Lock()
        self._loop = BackgroundLoop(
            self.balance_once, every=self._balance_every, on_error=self._balancing_failed
        )
        self._last_error_log = float("-inf")
        self.shard_conflict: str | None = None

    @property
    def is_leader(self) -> bool:
        """True while this worker publishes at least one shard."""
        return any(lane.is_leader for lane in self._lanes.values())

    @property
    def shards_held(self) -> list[int]:
        """The shards this worker publishes now."""
        return sorted(i for i, lane in self._lanes.items() if lane.is_leader)

    def wake(self) -> None:
        """Run every lane's next cycle now (a fast-path send failed)."""
        for lane in self._lanes.values():
            lane.wake()

    def start(self) -> None:
        """Start balancing (and so relaying) in the background."""
        self._loop.start()

    async def stop(self) -> None:
        """Stop balancing and every lane; wait for their batches in flight."""
        await self._loop.stop()
        async with self._balancing:
            await asyncio.gather(*(lane.stop() for lane in self._lanes.values()))

    async def drain(self, timeout: float) -> int:
        """Publish what waits in the shards held, in parallel (at shutdown, after stop())."""
        lanes = [lane for lane in self._lanes.values() if lane.is_leader]
        counts = await asyncio.gather(*(lane.drain(timeout) for lane in lanes))
        return sum(counts)

    async def release(self) -> None:
        """Give every shard back and leave, so the others take over at once."""
        async with self._balancing:
            lanes, self._lanes = self._lanes, {}
            await asyncio.gather(*(lane.release() for lane in lanes.values()))
            await self._members.leave(self.holder)

    async def balance_once(self) -> None:
        """One round: heartbeat, drop lost shards, give back extras, take free ones."""
        async with self._balancing:
            relays = await self._members.heartbeat(self.holder, self._lease_ttl)
            for index, lane in list(self._lanes.items()):
                if not lane.is_leader:  # its lease lapsed and another relay took it
                    await self._drop(index, release=False)
            share = fair_share(self.shards, relays)
            for index in sorted(self._lanes)[share:]:
                await self._drop(index, release=True)
            if len(self._lanes) < share and not self._loop.stopping:
                await self._take(share)

    async def _take(self, share: int) -> None:
        foreign = await self._members.other_schemes(self.shards)
        if foreign:
            # Another OUTBOX_SHARDS would split keys differently: two relays could then
            # publish one key at once, out of order. Take nothing until it is gone.
            self.shard_conflict = foreign[0]
            self._log_error(
                "outbox relay: leases of another shard count are live (%s); this worker "
                "(OUTBOX_SHARDS=%d) relays nothing until every worker has the same setting",
                ", ".join(foreign),
                self.shards,
            )
            return
        self.shard_conflict = None
        # Start from a different place on each worker, so that joining relays do not all
        # race for the same free shards.
        offset = sum(map(ord, self.holder)) % self.shards
        free = [
            lease.shard
            for lease in await self._members.leases(self.shards)
            if lease.holder is None and lease.shard not in self._lanes
        ]
        free.sort(key=lambda i: (i - offset) % self.shards)
        for index in free:
            if len(self._lanes) >= share:
                break
            lane = self._lane_for(Shard(index, self.shards))
            if await lane.acquire():
                self._lanes[index] = lane
                lane.start()
            elif lane.shard_conflict is not None:
                # Another setting claimed the outbox since the check above (the claim,
                # not the check, decides): take no more.
                self.shard_conflict = lane.shard_conflict
                return

    async def _drop(self, index: int, *, release: bool) -> None:
        lane = self._lanes.pop(index)
        await lane.stop()  # its batch in flight finishes, and is marked, first
        if release:
            await lane.release()

    def _balancing_failed(self, exc: Exception) -> None:
        self._log_error("outbox relay balancing failed; retrying", exc_info=True)

    def _log_error(self, message: str, *args: object, exc_info: bool = False) -> None:
        # Once every 30 s at most: a database outage must not flood the log.
        if time.monotonic() - self._last_error_log >= 30.0:
            self._last_error_log = time.monotonic()
            log.error(message, *args, exc_info=exc_info)
