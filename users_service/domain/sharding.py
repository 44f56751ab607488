"""Outbox shards: which relay publishes a message, decided by its key alone.

Every message of a key lands in the same shard, and one relay at a time publishes a
shard, oldest first: that is what keeps per-key order while several relays publish at
once. The hash is CRC-32 (the same on every process and release, unlike `hash()`); the
row stores the hash, not the shard, so changing `OUTBOX_SHARDS` rewrites nothing.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

# Non-negative and within a signed 32-bit column on every database.
_HASH_MASK = 0x7FFFFFFF


def key_hash(key: str) -> int:
    """The stable hash stored with an outbox row."""
    return zlib.crc32(key.encode("utf-8")) & _HASH_MASK


@dataclass(frozen=True)
class Shard:
    """Shard `index` of `count`; with a count of 1, the whole outbox."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ValueError(f"no shard {self.index} of {self.count}")

    @property
    def lease_name(self) -> str:
        # One shard is today's single relay lease, under its old name: a worker with
        # OUTBOX_SHARDS=1 and one from before shards exclude each other.
        if self.count == 1:
            return "outbox-relay"
        return f"outbox-relay:{self.index}/{self.count}"

    def holds(self, hash_value: int) -> bool:
        """True when a row with this key hash belongs to this shard."""
        return hash_value % self.count == self.index


def setting_of(count: int) -> str:
    """A shard count as logs and the lease table spell it: "OUTBOX_SHARDS=4"."""
    return f"OUTBOX_SHARDS={count}"


def setting_of_lease(name: str) -> str | None:
    """The OUTBOX_SHARDS of the relay holding the lease `name`, or None for another row."""
    if name == Shard(0, 1).lease_name:
        return setting_of(1)
    prefix, _, count = name.rpartition("/")
    if prefix.startswith("outbox-relay:") and count.isdigit():
        return setting_of(int(count))
    return None


def fair_share(shards: int, relays: int) -> int:
    """How many shards one of `relays` live relays holds at most: all are covered."""
    return math.ceil(shards / max(relays, 1))
