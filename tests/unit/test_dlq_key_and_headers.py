"""Found by the adversarial run against a real worker: a parked command's key and header
values are kept verbatim, so a password or a bcrypt hash a producer put there reaches
user.create.dlq (seen on the broker with kcat: `K=$2b$04$…`, `H=password=…,x-hash=$2b$…`).
docs/security.md: "A parked command never keeps a password or a hash"; "No password or bcrypt
hash in any … DLQ record"."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.support.parked import Message
from users_service.adapters.kafka.dead_letters import DeadLetters
from users_service.domain.commands import Poison
from users_service.service_layer.retry import Backoff

PASSWORD = b"hunter2hunter2"
HASH = b"$2b$04$Kir/YHXCuxX0yYcTandWh.Qlc6r.yfkn6Xud0t0CqAJp/w7oM8.Kq"


class Producer:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]] = []

    async def send(
        self, topic: str, key: bytes | None, value: bytes | None, **kwargs: Any
    ) -> asyncio.Future[None]:
        self.sent.append((key, value, list(kwargs["headers"])))
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


class App:
    def __init__(self, producer: Producer) -> None:
        self.producer = producer


MESSAGES = {
    "a hash as the key": Message(HASH, b"not json"),
    "a password field in a JSON key": Message(b'{"password": "hunter2hunter2"}', b"not json"),
    "a password header": Message(b"k", b"not json", [("password", PASSWORD)]),
    "a hash header": Message(b"k", b"[1]", [("x-hash", HASH)]),
    "a JSON header with a password": Message(
        b"k", b"not json", [("x-cmd", b'{"password": "hunter2hunter2"}')]
    ),
}


@pytest.mark.parametrize("message", MESSAGES.values(), ids=MESSAGES.keys())
async def test_a_parked_records_key_and_headers_keep_no_password_or_hash(message: Message) -> None:
    producer = Producer()
    dead_letters = DeadLetters(App(producer), "user.create.dlq", backoff=Backoff(0.001, 0.001))
    await dead_letters.park(message, Poison("not_json", "Expecting value"))
    [(key, value, headers)] = producer.sent
    blobs = [key or b"", value or b"", *(n.encode() + b"=" + v for n, v in headers)]
    assert not [b for b in blobs if PASSWORD in b or HASH in b]
