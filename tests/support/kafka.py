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
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from aiokafka.errors import TopicAlreadyExistsError, for_code

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


async def create_topic(
    name: str, partitions: int = 3, *, replicas: int = 1, timeout: float = 60.0
) -> None:
    """Create `name` and return once the broker's metadata lists it with its partitions.

    A refusal is retried until `timeout`, then raised: a broker its controller has fenced
    answers "All brokers are currently fenced" (INVALID_REPLICATION_FACTOR) for a while
    after it starts. "Already exists" counts as created. Waiting for the metadata matters
    to what comes next: a consumer that subscribes to a topic its broker does not list yet
    is assigned none of it until its next metadata refresh (five minutes by default)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA)
    await admin.start()
    try:
        deadline = time.monotonic() + timeout
        refusal = ""

        async def created() -> bool:
            nonlocal refusal
            response = await admin.create_topics([NewTopic(name, partitions, replicas)])
            [(_, code, message)] = response.topic_errors
            refusal = f"{for_code(code).__name__}: {message}"
            return code in (0, TopicAlreadyExistsError.errno)

        try:
            await eventually(created, timeout=timeout, interval=0.5, what=f"topic {name}")
        except AssertionError:
            raise AssertionError(
                f"the broker refused to create {name} for {timeout}s: {refusal}"
            ) from None

        async def listed() -> bool:
            [described] = await admin.describe_topics([name])
            return bool(described["error_code"] == 0 and described["partitions"])

        await eventually(
            listed,
            timeout=max(deadline - time.monotonic(), 1.0),
            interval=0.1,
            what=f"topic {name} in the broker's metadata",
        )
    finally:
        await admin.close()


async def topic_listed(name: str) -> bool:
    """Whether the broker's metadata lists topic `name` with its partitions."""
    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA)
    await admin.start()
    try:
        [described] = await admin.describe_topics([name])
    finally:
        await admin.close()
    return bool(described["error_code"] == 0 and described["partitions"])


async def group_partitions(group: str) -> set[TopicPartition]:
    """The partitions the members of consumer group `group` hold now, as its coordinator
    says (empty while it rebalances or has no members)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA)
    await admin.start()
    try:
        [response] = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    [described] = response.to_object()["groups"]
    if described["state"] != "Stable":
        return set()
    held: set[TopicPartition] = set()
    for member in described["members"]:
        if member["member_assignment"]:
            decoded = ConsumerProtocolMemberAssignment.decode(member["member_assignment"])
            held.update(decoded.partitions())
    return held


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
    topic: str, *, expect: int, timeout: float, bootstrap: str = KAFKA
) -> list[Consumed]:
    """Everything on `topic`, from its beginning to its end offsets, once it holds at least
    `expect` messages; fails after `timeout`.

    The end offsets are taken first, then every partition is read until it reaches its
    own: nothing published before that moment is missed, with no settle time to guess.
    To claim "exactly once", call it once the producer is done (e.g. the outbox has
    nothing pending): every copy it wrote is then below the end offsets."""
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

        async def ends_holding_expected() -> dict[TopicPartition, int]:
            starts = await consumer.beginning_offsets(tps)
            ends: dict[TopicPartition, int] = await consumer.end_offsets(tps)
            held = sum(ends[tp] - starts[tp] for tp in tps)
            return ends if held >= expect else {}

        try:
            ends = await eventually(
                ends_holding_expected,
                timeout=max(deadline - time.monotonic(), 0.0),
                interval=0.1,
                what=f"{expect} messages on {topic}",
            )
        except AssertionError:
            raise AssertionError(
                f"fewer than {expect} messages on {topic} after {timeout}s"
            ) from None
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        seen: list[Consumed] = []
        behind = {tp for tp in tps if ends[tp] > 0}
        while behind:
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"read {len(seen)} messages of {topic} in {timeout}s; partitions "
                    f"{sorted(tp.partition for tp in behind)} short of their end offsets"
                )
            batches = await consumer.getmany(*behind, timeout_ms=100)
            received_at = time.monotonic()
            for tp, records in batches.items():
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
                    if r.offset < ends[tp]
                )
            behind = {tp for tp in behind if await consumer.position(tp) < ends[tp]}
        return seen
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
