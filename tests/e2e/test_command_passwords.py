"""No plaintext password at rest outside the service, on the real broker: commands may
carry a bcrypt hash instead, plaintext can be refused, and neither a rejection nor a
parked command nor the worker's DEBUG log keeps a password."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import asyncpg
import bcrypt

from tests.support.kafka import produce, read_topic
from tests.support.services import POSTGRES_URL
from tests.support.worker import Worker

SECRET = "Plaintext-Secret-4f2a"


async def stored_hash(email: str) -> str | None:
    conn = await asyncpg.connect(POSTGRES_URL)
    try:
        value = await conn.fetchval("SELECT password_hash FROM users WHERE email = $1", email)
        return str(value) if value is not None else None
    finally:
        await conn.close()


async def test_hashes_only_plaintext_refused_and_nothing_kept_anywhere(
    worker_env: dict[str, str], workers: list[Worker], tmp_path: Path
) -> None:
    env = {**worker_env, "COMMANDS_ACCEPT_PLAINTEXT_PASSWORD": "false"}
    worker = Worker(env, tmp_path)
    workers.append(worker)
    worker.start(loglevel="debug")
    await worker.wait_serving()
    topic = worker_env["KAFKA_USER_CREATE_TOPIC"]
    password_hash = bcrypt.hashpw(SECRET.encode(), bcrypt.gensalt(4)).decode()
    hashed = {
        "commandId": str(uuid.uuid4()),
        "nombre": "Hashed",
        "email": "hashed@example.com",
        "passwordHash": password_hash,
    }
    plaintext = {
        "commandId": str(uuid.uuid4()),
        "nombre": "Plain",
        "email": "plain@example.com",
        "password": SECRET,
    }
    misplaced = {  # a password typed into the email field
        "commandId": str(uuid.uuid4()),
        "nombre": "Oops",
        "email": SECRET,
        "passwordHash": password_hash,
    }
    poison = b'["password", "' + SECRET.encode() + b'"]'
    for value in (hashed, plaintext, misplaced):
        await produce(topic, json.dumps(value).encode(), key=str(value["commandId"]).encode())
    await produce(topic, poison, key=b"poison")

    [created] = await read_topic(worker_env["KAFKA_USER_CREATED_TOPIC"], expect=1, timeout=60)
    rejections = await read_topic(
        worker_env["KAFKA_USER_CREATE_REJECTED_TOPIC"], expect=2, timeout=60
    )
    [parked] = await read_topic(worker_env["KAFKA_USER_CREATE_DLQ_TOPIC"], expect=1, timeout=60)

    assert created.headers["commandId"] == hashed["commandId"].encode()
    assert await stored_hash("hashed@example.com") == password_hash  # stored as sent
    reasons = {json.loads(m.value)["commandId"]: json.loads(m.value) for m in rejections}
    assert "password" in reasons[plaintext["commandId"]]["reason"]["fields"]
    assert reasons[misplaced["commandId"]]["email"] is None  # not echoed
    # Not an object: every string is replaced by its length; the size names the original.
    assert parked.value == f'["<8 characters>", "<{len(SECRET)} characters>"]'.encode()
    assert parked.headers["dlq.original.size"]
    worker.terminate()
    everything = [
        worker.log_text(),
        *(m.value.decode() for m in [created, *rejections, parked]),
    ]
    for text in everything:
        assert SECRET not in text
        assert password_hash not in text
