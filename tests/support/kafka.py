"""An independent Kafka client (aiokafka, not the app) to see what is really on a topic."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import time
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.support.services import KAFKA, ROOT
from tests.support.waiting import eventually


@dataclass(frozen=True)
class Consumed:
    key: bytes | None
    value: bytes
    headers: dict[str, bytes]
    partition: int
    offset: int
    timestamp_ms: int = 0
    received_at: float = 0.0  # time.monotonic() when this consumer got it


async def create_topic(name: str, partitions: int = 3) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()


async def produce(
    topic: str, value: bytes, key: bytes | None = None, headers: dict[str, bytes] | None = None
) -> None:
    """Send one message as any other service would, and wait for the acknowledgement."""
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA)
    await producer.start()
    try:
        await producer.send_and_wait(
            topic, value, key=key, headers=list((headers or {}).items()) or None
        )
    finally:
        await producer.stop()


async def produce_burst(topic: str, messages: list[tuple[bytes | None, bytes]]) -> None:
    """Send (key, value) pairs from one producer in one go, as a busy producer would; wait
    for every acknowledgement."""
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA, linger_ms=20)
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key) for key, value in messages]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def read_topic(
    topic: str, *, expect: int, timeout: float, settle: float = 0.5, bootstrap: str = KAFKA
) -> list[Consumed]:
    """Everything on `topic` from the beginning, once at least `expect` messages arrived
    (then `settle` seconds more, to catch duplicates); fails after `timeout`."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        deadline = time.monotonic() + timeout

        async def known_partitions() -> set[int]:
            await consumer._client.force_metadata_update()
            return consumer.partitions_for_topic(topic) or set()

        partitions = await eventually(
            known_partitions, timeout=timeout, interval=0.1, what=f"topic {topic} to exist"
        )
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        seen: list[Consumed] = []
        settle_until: float | None = None
        while True:
            now = time.monotonic()
            if settle_until is None and len(seen) >= expect:
                settle_until = now + settle
            if settle_until is not None and now >= settle_until:
                return seen
            if now >= deadline:
                raise AssertionError(
                    f"only {len(seen)} of {expect} messages on {topic} after {timeout}s"
                )
            batches = await consumer.getmany(timeout_ms=100)
            received_at = time.monotonic()
            for records in batches.values():
                seen.extend(
                    Consumed(
                        r.key,
                        r.value,
                        dict(r.headers),
                        r.partition,
                        r.offset,
                        r.timestamp,
                        received_at,
                    )
                    for r in records
                )
    finally:
        await consumer.stop()


def compression_codecs(topic: str) -> set[str]:
    """The codecs of the record batches on `topic`, as the broker stored them, read by
    Kafka's own DumpLogSegments from the local broker's data (`make kafka-up`'s)."""
    state = ROOT / os.environ.get("KAFKA_STATE_DIR", ".cache/kafka")
    libs = ROOT / os.environ.get("KAFKA_LIBS_DIR", ".cache/kafka/libs")
    segments = sorted(str(p) for p in (state / "data").glob(f"{topic}-*/*.log"))
    assert segments, f"no log segments of {topic} under {state / 'data'}"
    dumped = subprocess.run(
        ["java", "-cp", f"{libs}/*", "kafka.tools.DumpLogSegments", "--files", ",".join(segments)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return set(re.findall(r"compresscodec: (\w+)", dumped))
