"""Seeking back to the committed offsets really rewinds, on the real broker.

Faust drops records it fetched while its flow was stopped (a rebalance beginning) and
seeks back to the committed offsets to read them again. aiokafka's `seek_to_committed`
leaves a partition without a commit where it is: past the dropped records. A worker
killed before its first commit left such partitions behind, and the next owner lost the
first commands on them (found, intermittently, by the worker-kill test on the cluster)."""

from __future__ import annotations

import uuid

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from streamapp.app import app
from streamapp.workarounds.faust_consumer import RewindingConsumerThread, seek_to_committed_or_reset
from tests.support.kafka import create_topic, produce_burst
from tests.support.services import KAFKA


async def consumed(consumer: AIOKafkaConsumer, tp: TopicPartition, count: int) -> list[int]:
    offsets: list[int] = []
    while len(offsets) < count:
        batch = await consumer.getmany(tp, timeout_ms=5000)
        offsets.extend(record.offset for record in batch.get(tp, []))
    return offsets


async def test_a_partition_without_a_commit_is_rewound_to_its_beginning(kafka: None) -> None:
    topic = f"rewind-{uuid.uuid4().hex[:8]}"
    await create_topic(topic, partitions=1)
    await produce_burst(topic, [(None, b"%d" % n) for n in range(5)])
    tp = TopicPartition(topic, 0)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=KAFKA,
        group_id=f"g-{topic}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        consumer.assign([tp])
        assert await consumed(consumer, tp, 5) == [0, 1, 2, 3, 4]
        assert await consumer.position(tp) == 5

        # aiokafka's own: no commit, so no seek; the records just dropped are skipped.
        assert await consumer.seek_to_committed() == {tp: None}
        assert await consumer.position(tp) == 5

        assert await seek_to_committed_or_reset(consumer, "earliest") == {tp: None}
        assert await consumer.position(tp) == 0
        assert await consumed(consumer, tp, 5) == [0, 1, 2, 3, 4]

        # With a commit, the commit is where it goes back to.
        await consumer.commit({tp: OffsetAndMetadata(3, "")})
        assert await seek_to_committed_or_reset(consumer, "earliest") == {tp: 3}
        assert await consumer.position(tp) == 3
    finally:
        await consumer.stop()


def test_the_app_s_consumer_seeks_back_with_the_rewinding_thread() -> None:
    consumer = app._new_consumer()
    assert isinstance(consumer._thread, RewindingConsumerThread)
