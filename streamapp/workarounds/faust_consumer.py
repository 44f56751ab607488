"""Faust's aiokafka consumer, made to really rewind when it seeks back to committed offsets.

When a rebalance stops Faust's flow, Faust drops the records it has fetched but not yet
delivered and "seeks back to committed offsets" to read them again (getmany in
faust/transport/consumer.py). aiokafka's `seek_to_committed` seeks only the partitions
whose committed offset is above 0: a partition with no commit yet keeps its position,
past the records just dropped. Faust then delivers the later records, and its next
commit skips the dropped ones for good.

That happened when a worker was killed before its first commit on a partition: the
survivor that took the partition over fetched its first commands during the rebalance,
dropped them, and never handled them (tests/e2e/test_cluster.py). Here a partition
without a commit goes back to where `auto_offset_reset` would start it.

Upstream: aio-libs/aiokafka#1003 ("seek_to_committed does not work when committed offset is
0", open). Written for aiokafka 0.14.0 under faust-streaming 0.15.3; relies on Faust's
`AIOKafkaConsumerThread.seek_to_committed`, `_ensure_consumer`, `call_thread` and
`Consumer._new_consumer_thread` (tests/unit/test_workaround_canaries.py holds them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread, Consumer


async def seek_to_committed_or_reset(
    consumer: AIOKafkaConsumer, auto_offset_reset: str
) -> dict[TopicPartition, int | None]:
    """Seek every assigned partition to its committed offset, and those without one (or at
    0) to their beginning under 'earliest'; return the committed offsets, as aiokafka's."""
    committed: dict[TopicPartition, int | None] = await consumer.seek_to_committed()
    uncommitted = [tp for tp, offset in committed.items() if not offset]
    if uncommitted and auto_offset_reset == "earliest":
        await consumer.seek_to_beginning(*uncommitted)
    return committed


class RewindingConsumerThread(AIOKafkaConsumerThread):  # type: ignore[misc]
    """Faust's consumer thread, whose seek back to committed offsets rewinds them all."""

    async def seek_to_committed(self) -> Mapping[Any, int]:
        consumer = self._ensure_consumer()
        reset = self.app.conf.consumer_auto_offset_reset
        return await self.call_thread(seek_to_committed_or_reset, consumer, reset)  # type: ignore[no-any-return]


class RewindingConsumer(Consumer):  # type: ignore[misc]
    """Faust's aiokafka consumer with the rewinding thread."""

    def _new_consumer_thread(self) -> RewindingConsumerThread:
        return RewindingConsumerThread(self, loop=self.loop, beacon=self.beacon)
