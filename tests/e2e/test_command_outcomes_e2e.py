"""On the real broker: a ~1 MB header or key (which Kafka accepts) is parked within the
producer's limit and the partition moves on; and a sample of property (a), generated
messages sent to a real worker, each ending in exactly one outcome holding no secret.

Outcomes are read to the topics' end offsets once the worker has committed every command
and published its outbox (`tests.support.topics_to_end`), not after a guessed time.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import re2  # type: ignore[import-untyped]
from aiokafka import AIOKafkaProducer
from hypothesis import HealthCheck, Phase, given, settings

from tests.support.asyncapi import assert_conforms
from tests.support.command_strategies import Generated, messages
from tests.support.kafka import Consumed
from tests.support.secrets import leaks
from tests.support.services import KAFKA
from tests.support.topics_to_end import TopicsToEnd, topics_to_end
from tests.support.worker import Worker

BCRYPT_HEAD = re2.compile(rb"\$2[abxy]\$[0-9]{2}\$")
# The broker takes a message of up to 1,048,588 bytes; the worker's producer sends 1,000,000.
HUGE = 1_020_000
TRACEPARENT = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


async def send(topic: str, items: list[tuple[bytes | None, bytes | None, list[Any]]]) -> None:
    """Send each (key, value, headers) to partition 0, in order, as a producer allowed
    messages of up to the broker's limit would; wait for every acknowledgement."""
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA, max_request_size=1_100_000)
    await producer.start()
    try:
        for key, value, headers in items:
            if key is None and value is None:
                key = b""  # aiokafka sends no message with neither (Java's client does)
            await producer.send_and_wait(topic, value, key=key, partition=0, headers=headers)
    finally:
        await producer.stop()


def blobs(record: Consumed) -> list[bytes | None]:
    return [record.key, record.value, *record.headers.values()]


@pytest.fixture
async def serving(
    worker_env: dict[str, str], workers: list[Worker], tmp_path: Path
) -> AsyncIterator[tuple[dict[str, str], TopicsToEnd]]:
    worker = Worker(worker_env, tmp_path)
    workers.append(worker)
    worker.start()
    await worker.wait_serving()
    async with topics_to_end() as topics:
        yield worker_env, topics


def out_topics(env: dict[str, str]) -> tuple[str, str, str]:
    return (
        env["KAFKA_USER_CREATED_TOPIC"],
        env["KAFKA_USER_CREATE_REJECTED_TOPIC"],
        env["KAFKA_USER_CREATE_DLQ_TOPIC"],
    )


async def test_a_huge_header_or_key_is_parked_and_the_partition_moves_on(
    serving: tuple[dict[str, str], TopicsToEnd],
) -> None:
    env, topics = serving
    huge = bytes(range(256)) * (HUGE // 256)
    good = {
        "commandId": str(uuid.uuid4()),
        "nombre": "After",
        "email": "after@example.com",
        "password": "correct-horse",
    }
    await send(
        env["KAFKA_USER_CREATE_TOPIC"],
        [
            (b"k", b"not json", [("blob", huge)]),
            (huge, b"[1]", [("traceparent", TRACEPARENT)]),
            (b"after", json.dumps(good).encode(), []),  # behind both, on the same partition
        ],
    )
    await topics.wait_settled(env["KAFKA_USER_CREATE_TOPIC"], env["KAFKA_GROUP_ID"])
    created, rejected, parked = (await topics.read_new(*out_topics(env))).values()

    assert [m.headers["commandId"] for m in created] == [good["commandId"].encode()]
    assert rejected == []
    header, key = sorted(parked, key=lambda m: m.headers["dlq.source.offset"])
    assert header.headers["dlq.reason"] == b"not_json" and header.value == b""
    assert header.headers["blob"] == f"<{len(huge)} bytes>".encode()  # its length only
    assert header.headers["dlq.headers.scrubbed"]
    assert key.key is None  # neither a UUID nor an email: no key bytes kept
    assert key.headers["dlq.original.key.size"] == str(len(huge)).encode()
    assert key.headers["dlq.original.key.size"] == str(len(huge)).encode()
    assert key.headers["traceparent"] == TRACEPARENT and key.value == b"[1]"
    for parked_record in (header, key):
        assert_conforms(parked_record, "DeadLetter")


E2E_EXAMPLES = 40 if os.environ.get("HYPOTHESIS_PROFILE") == "fuzz" else 8


@pytest.mark.property
@settings(
    max_examples=E2E_EXAMPLES,
    phases=[Phase.generate],  # each example costs a commit interval: no shrinking
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(message=messages(fresh_ids=True))
async def test_a_sample_of_messages_each_has_one_outcome_holding_no_secret(
    serving: tuple[dict[str, str], TopicsToEnd], message: Generated
) -> None:
    env, topics = serving
    started = time.monotonic()
    await send(env["KAFKA_USER_CREATE_TOPIC"], [(message.key, message.value, message.headers)])
    await topics.wait_settled(env["KAFKA_USER_CREATE_TOPIC"], env["KAFKA_GROUP_ID"])
    found = [m for ms in (await topics.read_new(*out_topics(env))).values() for m in ms]
    assert len(found) == 1, f"{len(found)} outcomes for {message!r}"
    [outcome] = found
    for secret in (message.password, message.password_hash):
        assert leaks(secret, *blobs(outcome)) == [], secret
    for blob in blobs(outcome):
        assert blob is None or not BCRYPT_HEAD.search(blob)
    print(f"e2e example: {time.monotonic() - started:.1f}s")
