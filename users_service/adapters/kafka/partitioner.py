"""Kafka's default partitioner (murmur2 of the key), computed faster than aiokafka's.

aiokafka's pure-Python murmur2 builds each 32-bit word from four byte reads and masks
after every operation, on the main thread, for every message sent. This one reads the words
with one `struct` call and masks only where a product can overflow. It must give exactly
the partitions Kafka's Java client and aiokafka give (the same key on the same partition
whoever produces it): a test holds it to aiokafka's on keys of every length."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from functools import lru_cache

from aiokafka.partitioner import DefaultPartitioner

_SEED = 0x9747B28C
_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


@lru_cache(maxsize=64)
def _words(count: int) -> struct.Struct:
    return struct.Struct(f"<{count}I")


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 of `data` (org.apache.kafka.common.utils.Utils.murmur2), unsigned."""
    length = len(data)
    h = _SEED ^ length
    count = length >> 2
    if count:
        for k in _words(count).unpack_from(data):
            k = (k * _M) & _MASK
            k ^= k >> 24
            h = ((h * _M) & _MASK) ^ ((k * _M) & _MASK)
    rest = length & 3
    if rest:
        tail = length & ~3
        if rest == 3:
            h ^= data[tail + 2] << 16
        if rest >= 2:
            h ^= data[tail + 1] << 8
        h = ((h ^ data[tail]) * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    return h ^ (h >> 15)


class KafkaPartitioner:
    """Partition of a key as Kafka's default partitioner chooses it; a message without a
    key goes where aiokafka's default would send it."""

    def __init__(self) -> None:
        self._keyless = DefaultPartitioner()

    def __call__(
        self, key: bytes | None, all_partitions: Sequence[int], available: Sequence[int]
    ) -> int:
        if key is None:
            return int(self._keyless(key, all_partitions, available))
        return all_partitions[(murmur2(key) & 0x7FFFFFFF) % len(all_partitions)]
