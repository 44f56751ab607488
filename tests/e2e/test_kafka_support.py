"""The suite's own Kafka helpers, on the real broker: a test that builds on them must be
able to trust what they say."""

from __future__ import annotations

import uuid

import pytest

from tests.support.kafka import create_topic, produce, read_topic, topic_listed


async def test_create_topic_raises_when_the_broker_refuses(kafka: None) -> None:
    # Three replicas on one broker: refused with INVALID_REPLICATION_FACTOR, the code a
    # fenced broker answers with ("All brokers are currently fenced"). Before, the
    # refusal was ignored and the test went on without its topic.
    name = f"support.refused-{uuid.uuid4().hex[:8]}"
    with pytest.raises(AssertionError, match="InvalidReplicationFactor"):
        await create_topic(name, replicas=3, timeout=1.0)
    assert not await topic_listed(name)


async def test_create_topic_returns_once_the_broker_lists_it(kafka: None) -> None:
    name = f"support.created-{uuid.uuid4().hex[:8]}"
    await create_topic(name, partitions=2)
    assert await topic_listed(name)
    await create_topic(name, partitions=2)  # already there: created, as asked


async def test_read_topic_returns_everything_below_the_end_offsets(kafka: None) -> None:
    name = f"support.read-{uuid.uuid4().hex[:8]}"
    await create_topic(name, partitions=3)
    for n in range(5):
        await produce(name, f"m{n}".encode(), key=f"k{n}".encode())
    # At least one was asked for; all five were there before the read: all five come.
    messages = await read_topic(name, expect=1, timeout=30)
    assert sorted(m.value for m in messages) == [f"m{n}".encode() for n in range(5)]
