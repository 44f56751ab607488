"""Reading what a worker wrote, to the topics' end offsets rather than for a guessed time:
first wait until the worker has committed every command it was given (it commits a
command only once its outcome is durable) and published every outbox row, then read
each output topic up to the end offsets it has at that moment."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from tests.support.kafka import Consumed
from tests.support.services import KAFKA, POSTGRES_URL
from tests.support.waiting import eventually


class TopicsToEnd:
    """Reads `topics` from where the last read stopped to their current end offsets."""

    def __init__(self, consumer: AIOKafkaConsumer, admin: AIOKafkaAdminClient) -> None:
        self._consumer = consumer
        self._admin = admin
        self._positions: dict[TopicPartition, int] = {}

    async def _partitions(self, topic: str) -> list[TopicPartition]:
        async def known() -> set[int]:
            # All topics' metadata: the consumer's own covers only the ones it is assigned.
            cluster = await self._consumer._client.fetch_all_metadata()
            return set(cluster.partitions_for_topic(topic) or ())

        found = await eventually(known, timeout=30, interval=0.1, what=f"topic {topic}")
        return [TopicPartition(topic, p) for p in sorted(found)]

    async def end_offsets(self, topic: str) -> dict[TopicPartition, int]:
        tps = await self._partitions(topic)
        ends: dict[TopicPartition, int] = await self._consumer.end_offsets(tps)
        return ends

    async def wait_settled(self, source: str, group: str, *, timeout: float = 60) -> None:
        """Until `group` has committed `source` to its end and no outbox row is waiting:
        every command handed in has its outcome on Kafka."""
        ends = await self.end_offsets(source)

        async def committed() -> bool:
            offsets = await self._admin.list_consumer_group_offsets(group)
            return all(
                (offsets[tp].offset if tp in offsets else 0) >= end for tp, end in ends.items()
            )

        await eventually(committed, timeout=timeout, interval=0.2, what=f"{group} committed")
        conn = await asyncpg.connect(POSTGRES_URL)
        try:

            async def drained() -> bool:
                waiting = await conn.fetchval(
                    "SELECT count(*) FROM outbox WHERE published_at IS NULL"
                )
                return bool(waiting == 0)

            await eventually(drained, timeout=timeout, interval=0.1, what="outbox published")
        finally:
            await conn.close()

    async def read_new(self, *topics: str, timeout: float = 30) -> dict[str, list[Consumed]]:
        """Every record of `topics` past the previous read, up to the current end offsets."""
        ends: dict[TopicPartition, int] = {}
        for topic in topics:
            ends.update(await self.end_offsets(topic))
        self._consumer.assign(list(ends))
        for tp in ends:
            self._consumer.seek(tp, self._positions.get(tp, 0))
        seen: dict[str, list[Consumed]] = {topic: [] for topic in topics}
        deadline = time.monotonic() + timeout
        while any(self._positions.get(tp, 0) < end for tp, end in ends.items()):
            assert time.monotonic() < deadline, f"could not read {topics} to {ends}"
            batches = await self._consumer.getmany(timeout_ms=200)
            for tp, records in batches.items():
                for r in records:
                    if r.offset >= ends[tp]:
                        continue
                    seen[tp.topic].append(
                        Consumed(r.key, r.value, dict(r.headers), r.partition, r.offset)
                    )
                    self._positions[tp] = r.offset + 1
            for tp in ends:  # a compacted or transactional gap: the position says so
                self._positions[tp] = max(
                    self._positions.get(tp, 0), min(await self._consumer.position(tp), ends[tp])
                )
        return seen


@asynccontextmanager
async def topics_to_end() -> AsyncIterator[TopicsToEnd]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=KAFKA, enable_auto_commit=False, fetch_max_bytes=8 * 1024 * 1024
    )
    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA)
    await consumer.start()
    await admin.start()
    try:
        yield TopicsToEnd(consumer, admin)
    finally:
        await admin.close()
        await consumer.stop()
