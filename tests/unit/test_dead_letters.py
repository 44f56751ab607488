"""Parking on the dead-letter topic: it waits for Kafka's acknowledgement, however long
Kafka fails, and parks what is too big to send whole as a bounded, identifiable head."""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any

import pytest
from aiokafka.errors import MessageSizeTooLargeError, RecordTooLargeError
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from tests.support.parked import Message
from tests.support.secrets import leaks
from users_service.adapters.kafka.dead_letters import DeadLetters
from users_service.domain.commands import Poison
from users_service.service_layer.retry import Backoff


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
KEY = b"bea@example.com"  # the key docs/events.md suggests: the lower-cased email
TRACEPARENT = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


async def test_parking_retries_until_kafka_acknowledges() -> None:
    producer = FlakyProducer(failures=3)
    dead_letters = DeadLetters(App(producer), "user.create.dlq", backoff=FAST)
    message = Message(KEY, b"[1, 2]", [("traceparent", TRACEPARENT)])
    await dead_letters.park(message, Poison("not_an_object", "a JSON list"))
    [(topic, key, value, headers)] = producer.sent
    assert (topic, key, value) == ("user.create.dlq", KEY, b"[1, 2]")
    names = dict(headers)
    assert names["traceparent"] == TRACEPARENT  # a harmless original header is kept
    assert names["dlq.reason"] == b"not_an_object" and names["dlq.source.offset"] == b"41"


async def test_a_value_too_big_to_park_whole_is_parked_as_its_head_with_its_size() -> None:
    producer = FlakyProducer(failures=0)
    dead_letters = DeadLetters(App(producer), "dlq", backoff=FAST, max_value_bytes=1000)
    big = b"[" + b"1, " * 333_300 + b"1]"  # 999,903 bytes
    await dead_letters.park(Message(b"k", big), Poison("too_large", "999903 bytes"))
    [(_, _, value, headers)] = producer.sent
    names = dict(headers)
    assert value == big[:1000]
    assert names["dlq.truncated"] == b"true"
    assert names["dlq.original.size"] == b"999903"
    assert names["dlq.original.size"] == str(len(big)).encode()


async def test_a_small_value_is_parked_whole_without_truncation_headers() -> None:
    producer = FlakyProducer(failures=0)
    dead_letters = DeadLetters(App(producer), "dlq", backoff=FAST, max_value_bytes=1000)
    await dead_letters.park(Message(None, b"[1]"), Poison("not_an_object", "a JSON list"))
    [(_, key, value, headers)] = producer.sent
    assert (key, value) == (None, b"[1]")
    names = dict(headers)
    assert "dlq.truncated" not in names and "dlq.scrubbed" not in names
    assert names["dlq.original.size"] == str(len(b"[1]")).encode()


async def test_a_parked_command_keeps_no_password_and_no_hash() -> None:
    producer = FlakyProducer(failures=0)
    dead_letters = DeadLetters(App(producer), "dlq", backoff=FAST)
    original = b'{"commandId": "c1", "email": "a@b.io", "password": "hunter2-secret"}'
    await dead_letters.park(Message(b"k", original), Poison("processing_error", "a bug"))
    mentions = b'["password", "hunter2-secret"'  # not JSON: nothing can be kept
    await dead_letters.park(Message(b"k", mentions), Poison("not_an_object", "a list"))
    hashed = b'{"commandId": "c2", "passwordHash": "$2b$12$' + b"a" * 53 + b'"}'
    await dead_letters.park(Message(b"k", hashed), Poison("processing_error", "a bug"))
    (_, _, first, first_headers), (_, _, second, _), (_, _, third, _) = producer.sent
    assert first is not None
    assert json.loads(first) == {
        "commandId": "c1",
        "email": "a@b.io",
        "password": "<14 characters>",  # a string not kept: its length only
    }
    assert dict(first_headers)["dlq.scrubbed"]
    assert dict(first_headers)["dlq.original.size"] == str(len(original)).encode()
    assert second == b""  # an empty value, not a null (a tombstone)
    assert third is not None
    assert json.loads(third) == {"commandId": "c2", "passwordHash": "<60 characters>"}


class SizeCheckingProducer(FlakyProducer):
    """Refuses a record the way aiokafka's producer does: with neither key nor value, or
    over `max_request_size` bytes as Kafka would frame it (key and headers included)."""

    def __init__(self, max_request_size: int = 1_000_000) -> None:
        super().__init__(failures=0)
        self.max_request_size = max_request_size
        self.refused = 0

    async def send(
        self, topic: str, key: bytes | None, value: bytes | None, **kwargs: Any
    ) -> asyncio.Future[None]:
        if key is None and value is None:
            self.refused += 1
            raise AssertionError("Need at least one: key or value")  # as aiokafka's send
        size = DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, kwargs["headers"])
        if size > self.max_request_size:
            self.refused += 1
            raise MessageSizeTooLargeError(f"The message is {size} bytes when serialized")
        return await super().send(topic, key, value, **kwargs)


def record_size(key: bytes | None, value: bytes | None, headers: list[Any]) -> int:
    return int(DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, headers))


async def park_once(dead_letters: DeadLetters, message: Message, poison: Poison) -> None:
    # Parking retries for ever: a record that can never be sent would hang the test.
    await asyncio.wait_for(dead_letters.park(message, poison), timeout=5)


async def test_a_huge_header_or_key_is_parked_within_the_producers_limit() -> None:
    """A ~1 MB header or key came in (the broker takes up to 1,048,588 bytes); the parked
    record stays under the producer's 1,000,000, the originals known by their size."""
    producer = SizeCheckingProducer()
    dead_letters = DeadLetters(App(producer), "dlq", backoff=FAST)
    huge = bytes(range(256)) * 4000  # 1,024,000 bytes
    header = Message(KEY, b"not json", [("traceparent", TRACEPARENT), ("blob", huge)])
    await park_once(dead_letters, header, Poison("not_json", "Expecting value"))
    key = Message(huge, b"[1]", [("none", None)])  # type: ignore[list-item]
    await park_once(dead_letters, key, Poison("not_an_object", "a JSON list"))
    many = Message(b"k", b"[1]", [(f"h{i}", b"x" * 2000) for i in range(500)])
    await park_once(dead_letters, many, Poison("not_an_object", "a JSON list"))

    (_, _, _, first), (_, second_key, _, second), (_, _, _, third) = producer.sent
    assert producer.refused == 0
    for sent in producer.sent:
        assert record_size(sent[1], sent[2], sent[3]) <= 700_000
    names = dict(first)
    assert names["traceparent"] == TRACEPARENT  # a harmless header is kept as it came
    assert names["blob"] == b"<1024000 bytes>"  # any other value: its length only
    assert names["dlq.headers.scrubbed"]
    assert second_key is None  # neither a UUID nor an email: no key bytes kept
    assert dict(second)["dlq.key.scrubbed"]
    assert dict(second)["dlq.original.key.size"] == b"1024000"
    assert dict(second)["none"] is None  # a null header stays null
    assert b"dropped" in dict(third)["dlq.headers.truncated"]


async def test_a_record_the_producer_refuses_anyway_is_parked_without_the_originals() -> None:
    """Whatever the bounds, a record too large for this producer (a smaller
    max_request_size) is parked as its reason and sizes: never retried for ever."""
    producer = SizeCheckingProducer(max_request_size=2_000)
    dead_letters = DeadLetters(App(producer), "dlq", backoff=FAST)
    await park_once(
        dead_letters,
        Message(b"k" * 900, b"[" + b"1," * 5000 + b"1]", [("h", b"x" * 1500)]),
        Poison("not_an_object", "a JSON list"),
    )
    [(_, _, value, headers)] = producer.sent
    assert value == b"" and dict(headers)["dlq.reason"] == b"not_an_object"
    assert dict(headers)["dlq.original.size"]


SECRET = "Hunter2-Secret-9f1c"
BCRYPT = "$2b$12$" + "R9h/cIPz0gi.URNNX3kh2O" + "PST9/PgBkqquzi.Ss7KIUgO2t0jWMUW"
LEAKY = {
    "an object over 64 KiB, password nested": json.dumps(
        {"creds": {"password": SECRET}, "pad": "x" * 70_000}
    ).encode(),
    "an array with an escaped key": b'[{"pass\\u0077ord": "' + SECRET.encode() + b'"}]',
    "broken JSON with an escaped key": b'{"pass\\u0077ord": "' + SECRET.encode() + b'", ',
    "UTF-16 JSON": json.dumps(["password", SECRET]).encode("utf-16"),
    "UTF-16 JSON object, nested": json.dumps({"a": {"password": SECRET}}).encode("utf-16-le"),
    "a hash written with \\u0024": json.dumps({"passwordHash": BCRYPT})
    .replace("$", "\\u0024")
    .encode(),
    "a hash in a list": json.dumps(["x", BCRYPT]).encode(),
    "a hash under another name": json.dumps({"nombre": BCRYPT}).encode(),
}


@pytest.mark.parametrize("case", sorted(LEAKY))
async def test_no_form_of_the_password_or_hash_is_parked(case: str) -> None:
    producer = SizeCheckingProducer()
    dead_letters = DeadLetters(App(producer), "dlq", backoff=FAST)
    await park_once(dead_letters, Message(b"k", LEAKY[case]), Poison("not_json", "x"))
    [(_, key, value, headers)] = producer.sent
    blobs = [key, value, *(v for _, v in headers)]
    assert leaks(SECRET, *blobs) == [] and leaks(BCRYPT, *blobs) == []
    assert dict(headers)["dlq.original.size"] == str(len(LEAKY[case])).encode()


async def test_a_parked_object_keeps_the_commands_own_fields_and_its_shape() -> None:
    producer = SizeCheckingProducer()
    dead_letters = DeadLetters(App(producer), "dlq", backoff=FAST)
    command = {
        "commandId": "c-1",
        "nombre": "Bea",
        "email": "bea@example.com",
        "password": SECRET,
        "extra": {"n": 3, "list": [True, None, "text"]},
    }
    await park_once(
        dead_letters, Message(b"k", json.dumps(command).encode("utf-16")), Poison("x", "y")
    )
    [(_, _, value, headers)] = producer.sent
    assert value is not None
    parked = json.loads(value)
    assert {k: parked[k] for k in ("commandId", "nombre", "email")} == {
        "commandId": "c-1",
        "nombre": "Bea",
        "email": "bea@example.com",
    }
    assert parked["extra"]["n"] == 3 and parked["extra"]["list"][:2] == [True, None]
    assert SECRET not in value.decode() and "text" not in value.decode()
    assert dict(headers)["dlq.scrubbed"]


class BrokerRefusingLargeRecords(FlakyProducer):
    """A broker whose DLQ topic takes smaller messages than the producer sends: it refuses
    any record with a non-empty value, wrapped the way Faust wraps aiokafka's errors."""

    async def send(
        self, topic: str, key: bytes | None, value: bytes | None, **kwargs: Any
    ) -> asyncio.Future[None]:
        if value:
            try:
                raise RecordTooLargeError()
            except RecordTooLargeError as exc:
                raise RuntimeError("Error while sending: RecordTooLargeError") from exc
        return await super().send(topic, key, value, **kwargs)


async def test_a_record_the_broker_refuses_as_too_large_is_parked_as_its_reason() -> None:
    producer = BrokerRefusingLargeRecords(failures=0)
    dead_letters = DeadLetters(App(producer), "dlq", backoff=FAST)
    await park_once(dead_letters, Message(b"k", b"[1]"), Poison("not_an_object", "a list"))
    [(_, key, value, headers)] = producer.sent
    assert (key, value) == (None, b"")
    assert dict(headers)["dlq.reason"] == b"not_an_object"


async def test_an_email_is_kept_only_when_it_is_one() -> None:
    """A password typed into the email field is not kept, as a rejection would not echo it."""
    producer = SizeCheckingProducer()
    dead_letters = DeadLetters(App(producer), "dlq", backoff=FAST)
    for email in (SECRET, "bea@example.com"):
        body = json.dumps({"commandId": "c", "email": email}).encode()
        await park_once(dead_letters, Message(b"k", body), Poison("processing_error", "x"))
    misplaced, valid = (json.loads(value or b"") for _, _, value, _ in producer.sent)
    assert misplaced["email"] == f"<{len(SECRET)} characters>"
    assert valid["email"] == "bea@example.com"


async def test_an_original_header_cannot_pass_for_one_of_the_services_own() -> None:
    """A producer's `dlq.reason` or `dlq.original.sha256` is kept under another name: a
    consumer of the DLQ reads the service's own `dlq.*` headers, and only them, as such."""
    producer = SizeCheckingProducer()
    dead_letters = DeadLetters(App(producer), "dlq", backoff=FAST)
    spoofed = [("dlq.reason", b"empty"), ("DLQ.original.sha256", b"0" * 64), ("dlq.x", b"1")]
    await park_once(dead_letters, Message(KEY, b"[1]", spoofed), Poison("not_an_object", "a list"))
    [(_, _, _, headers)] = producer.sent
    names = [name for name, _ in headers]
    assert names.count("dlq.reason") == 1 and dict(headers)["dlq.reason"] == b"not_an_object"
    assert "DLQ.original.sha256" not in names and "dlq.x" not in names
    assert {"dlq.original.header.dlq.reason", "dlq.original.header.dlq.x"} <= set(names)


async def test_a_header_name_that_is_not_plain_is_named_by_its_position() -> None:
    producer = SizeCheckingProducer()
    dead_letters = DeadLetters(App(producer), "dlq", backoff=FAST)
    named = [("x-id", b"7"), (BCRYPT, b"1"), ("pass word!", b"2")]
    await park_once(dead_letters, Message(None, b"[1]", named), Poison("not_an_object", "x"))
    [(_, _, _, headers)] = producer.sent
    names = [name for name, _ in headers]
    assert names[:3] == ["x-id", "<header 1: 60 characters>", "<header 2: 10 characters>"]


async def test_a_parked_record_holds_no_fast_hash_of_what_it_did_not_keep() -> None:
    """A SHA-256 of the original value, key or headers is a fast hash of the password
    inside them: with every other field of the command on the record (or guessable), the
    password's length given, it is guessed offline. Source topic, partition and offset
    name the original; no digest is kept."""
    producer = SizeCheckingProducer()
    dead_letters = DeadLetters(App(producer), "dlq", backoff=FAST)
    value = json.dumps({"commandId": "x", "password": SECRET}).encode() + b"{"
    key = SECRET.encode()
    headers = [("password", SECRET.encode())]
    await park_once(dead_letters, Message(key, value, headers), Poison("not_json", "cut"))
    [(_, _, _, parked)] = producer.sent
    digests = {
        hashlib.sha256(data).hexdigest().encode()
        for data in (value, key, SECRET.encode(), b"password" + SECRET.encode())
    }
    assert not [name for name, v in parked if v in digests or name.endswith("sha256")]
