"""Parking on the dead-letter topic: it waits for Kafka's acknowledgement, however long
Kafka fails, and parks what is too big to send whole as a bounded, identifiable head."""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from users_service.adapters.kafka.dead_letters import DeadLetters
from users_service.domain.commands import Poison
from users_service.service_layer.retry import Backoff


@dataclass
class Message:
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    topic: str = "user.create"
    partition: int = 2
    offset: int = 41


class FlakyProducer:
    """Fails the first `failures` sends (as with the broker away), then acknowledges."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.sent: list[tuple[str, bytes | None, bytes | None, list[tuple[str, bytes]]]] = []

    async def send(
        self, topic: str, key: bytes | None, value: bytes | None, **kwargs: Any
    ) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.failures:
            self.failures -= 1
            future.set_exception(ConnectionError("broker unreachable"))
        else:
            self.sent.append((topic, key, value, list(kwargs["headers"])))
            future.set_result(None)
        return future


class App:
    def __init__(self, producer: FlakyProducer) -> None:
        self.producer = producer


FAST = Backoff(first=0.001, most=0.001)


async def test_parking_retries_until_kafka_acknowledges() -> None:
    producer = FlakyProducer(failures=3)
    dead_letters = DeadLetters(App(producer), "user.create.dlq", backoff=FAST)
    message = Message(b"k", b"not json", [("traceparent", b"00-abc")])
    await dead_letters.park(message, Poison("not_json", "Expecting value"))
    [(topic, key, value, headers)] = producer.sent
    assert (topic, key, value) == ("user.create.dlq", b"k", b"not json")
    names = dict(headers)
    assert names["traceparent"] == b"00-abc"  # the original headers are kept
    assert names["dlq.reason"] == b"not_json" and names["dlq.source.offset"] == b"41"


async def test_a_value_too_big_to_park_whole_is_parked_as_its_head_with_size_and_digest() -> None:
    producer = FlakyProducer(failures=0)
    dead_letters = DeadLetters(App(producer), "dlq", backoff=FAST, max_value_bytes=1000)
    big = b"x" * 999_900
    await dead_letters.park(Message(b"k", big), Poison("too_large", "999900 bytes"))
    [(_, _, value, headers)] = producer.sent
    names = dict(headers)
    assert value == big[:1000]
    assert names["dlq.truncated"] == b"true"
    assert names["dlq.original.size"] == b"999900"
    assert names["dlq.original.sha256"] == hashlib.sha256(big).hexdigest().encode()


async def test_a_small_value_is_parked_whole_without_truncation_headers() -> None:
    producer = FlakyProducer(failures=0)
    dead_letters = DeadLetters(App(producer), "dlq", backoff=FAST, max_value_bytes=1000)
    await dead_letters.park(Message(None, b"[1]"), Poison("not_an_object", "a JSON list"))
    [(_, key, value, headers)] = producer.sent
    assert (key, value) == (None, b"[1]")
    names = dict(headers)
    assert "dlq.truncated" not in names and "dlq.scrubbed" not in names
    assert names["dlq.original.sha256"] == hashlib.sha256(b"[1]").hexdigest().encode()


async def test_a_parked_command_keeps_no_password_and_no_hash() -> None:
    producer = FlakyProducer(failures=0)
    dead_letters = DeadLetters(App(producer), "dlq", backoff=FAST)
    original = b'{"commandId": "c1", "email": "a@b.io", "password": "hunter2-secret"}'
    await dead_letters.park(Message(b"k", original), Poison("processing_error", "a bug"))
    mentions = b'["password", "hunter2-secret"]'  # not an object: nothing can be cut out
    await dead_letters.park(Message(b"k", mentions), Poison("not_an_object", "a list"))
    hashed = b'{"commandId": "c2", "passwordHash": "$2b$12$' + b"a" * 53 + b'"}'
    await dead_letters.park(Message(b"k", hashed), Poison("processing_error", "a bug"))
    (_, _, first, first_headers), (_, _, second, _), (_, _, third, _) = producer.sent
    assert first is not None and json.loads(first) == {"commandId": "c1", "email": "a@b.io"}
    assert dict(first_headers)["dlq.scrubbed"]
    assert (
        dict(first_headers)["dlq.original.sha256"] == hashlib.sha256(original).hexdigest().encode()
    )
    assert second is None
    assert third is not None and json.loads(third) == {"commandId": "c2"}
