"""The gate's probe against the real broker: it answers, and lists itself as serving."""

from __future__ import annotations

import uuid

from tests.support.services import KAFKA, free_port
from users_service.adapters.kafka.probe import broker_answers


async def test_the_running_broker_is_ready(kafka: None) -> None:
    assert await broker_answers([KAFKA], timeout=5)


async def test_nothing_listening_is_not_ready() -> None:
    assert not await broker_answers([f"127.0.0.1:{free_port()}"], timeout=1)


async def test_durability_is_read_from_the_real_broker() -> None:
    from tests.support.kafka import create_topic
    from tests.support.services import require_kafka
    from users_service.adapters.kafka.durability import TopicDurability, read_durability

    require_kafka()
    name = f"durability.test-{uuid.uuid4().hex[:8]}"
    await create_topic(name, partitions=1)
    brokers, topics = await read_durability([KAFKA], [name], {}, timeout=5.0)
    assert brokers == 1
    assert topics == {name: TopicDurability(replication_factor=1, min_insync_replicas=1)}
