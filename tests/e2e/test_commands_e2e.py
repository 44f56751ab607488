"""Command in, event out, on the real broker and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.support.asyncapi import assert_conforms
from tests.support.backlog import wait_published
from tests.support.kafka import produce, produce_burst, read_topic
from tests.support.services import POSTGRES_URL
from tests.support.waiting import eventually
from tests.support.worker import Worker

PASSWORD = "Command-Secret-7e1b"


def command(**patch: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "commandId": str(uuid.uuid4()),
        "nombre": "Cmd",
        "email": f"cmd-{uuid.uuid4().hex[:8]}@example.com",
        "password": PASSWORD,
        "requestedAt": "2026-11-28T10:00:00Z",
    }
    body.update(patch)
    return body


async def send(env: dict[str, str], body: dict[str, Any] | bytes, key: str | None = None) -> None:
    value = body if isinstance(body, bytes) else json.dumps(body).encode()
    await produce(env["KAFKA_USER_CREATE_TOPIC"], value, key=key.encode() if key else None)


async def count_users(email: str | None = None) -> int:
    conn = await asyncpg.connect(POSTGRES_URL)
    try:
        if email is None:
            return int(await conn.fetchval("SELECT count(*) FROM users"))
        return int(await conn.fetchval("SELECT count(*) FROM users WHERE email = $1", email))
    finally:
        await conn.close()


async def running_worker(workers: list[Worker], env: dict[str, str], tmp_path: Path) -> Worker:
    worker = Worker(env, tmp_path, name=f"worker{len(workers)}")
    workers.append(worker)
    worker.start()
    await worker.wait_serving()
    return worker


@pytest.mark.both_routes
async def test_a_command_creates_one_user_and_a_redelivery_changes_nothing(
    worker_env: dict[str, str], workers: list[Worker], tmp_path: Path
) -> None:
    await running_worker(workers, worker_env, tmp_path)
    cmd = command()
    await send(worker_env, cmd, key=cmd["email"])
    [created] = await read_topic(worker_env["KAFKA_USER_CREATED_TOPIC"], expect=1, timeout=30)
    assert created.headers["commandId"] == cmd["commandId"].encode()
    assert_conforms(created, "UserCreated")
    event = json.loads(created.value)
    assert set(event) == {"eventType", "eventId", "timestamp", "data"}
    assert event["data"]["email"] == cmd["email"]

    # The resend and a marker on the partition of the first delivery: once the marker is
    # handled, the resend has been too, and whatever it published is on the topics.
    await send(worker_env, cmd, key=cmd["email"])  # redelivery, producer retry or resend
    marker = command()
    await send(worker_env, marker, key=cmd["email"])
    await read_topic(worker_env["KAFKA_USER_CREATED_TOPIC"], expect=2, timeout=30)
    await wait_published(worker_env["DATABASE_URL"], timeout=30)
    messages = await read_topic(worker_env["KAFKA_USER_CREATED_TOPIC"], expect=2, timeout=30)
    # (Events are keyed by user id: the two may be on different partitions, in any order.)
    assert sorted(m.headers["commandId"] for m in messages) == sorted(
        [cmd["commandId"].encode(), marker["commandId"].encode()]
    )
    assert await count_users(cmd["email"]) == 1
    assert all(PASSWORD.encode() not in m.value for m in messages)
    # The resend changed nothing: no rejection (as a "duplicate_email"), nothing parked.
    for outcomes in ("KAFKA_USER_CREATE_REJECTED_TOPIC", "KAFKA_USER_CREATE_DLQ_TOPIC"):
        assert await read_topic(worker_env[outcomes], expect=0, timeout=30) == [], outcomes


async def test_invalid_and_duplicate_commands_become_rejection_events(
    worker_env: dict[str, str], workers: list[Worker], tmp_path: Path
) -> None:
    await running_worker(workers, worker_env, tmp_path)
    first = command()
    invalid = command(email="not-an-email", password="short")
    duplicate = command(email=first["email"].upper())
    # Keyed by email, as docs/events.md advises: one email's commands share a partition and
    # keep their order, so `first` is handled before its duplicate.
    for cmd in (first, invalid, duplicate):
        await send(worker_env, cmd, key=cmd["email"].lower())
    rejections = await read_topic(
        worker_env["KAFKA_USER_CREATE_REJECTED_TOPIC"], expect=2, timeout=30
    )
    by_command = {json.loads(m.value)["commandId"]: (m, json.loads(m.value)) for m in rejections}
    assert set(by_command) == {invalid["commandId"], duplicate["commandId"]}

    message, event = by_command[invalid["commandId"]]
    assert event["eventType"] == "USER_CREATE_REJECTED"
    assert event["reason"]["code"] == "invalid"
    assert set(event["reason"]["fields"]) == {"email", "password"}
    assert message.key == invalid["commandId"].encode()
    assert message.headers["eventType"] == b"USER_CREATE_REJECTED"

    _, event = by_command[duplicate["commandId"]]
    assert event["reason"] == {"code": "duplicate_email"}
    assert event["email"] == first["email"]
    assert set(event) == {"eventType", "eventId", "timestamp", "commandId", "reason", "email"}
    for m in rejections:
        assert PASSWORD.encode() not in m.value and b"short" not in m.value
        assert_conforms(m, "UserCreateRejected")
    assert await count_users() == 1


@pytest.mark.parametrize(
    ("payload", "reason", "kept"),
    [
        (b"\x00\xffnot json", "not_json", b""),  # not JSON: no value bytes kept
        (b"[1, 2]", "not_an_object", b"[1, 2]"),
        (b"x" * 70_000, "too_large", b""),
    ],
)
async def test_poison_goes_to_the_dead_letter_topic_and_the_next_command_still_runs(
    worker_env: dict[str, str],
    workers: list[Worker],
    tmp_path: Path,
    payload: bytes,
    reason: str,
    kept: bytes,
) -> None:
    await running_worker(workers, worker_env, tmp_path)
    await send(worker_env, payload)
    after = command()
    await send(worker_env, after)
    [parked] = await read_topic(worker_env["KAFKA_USER_CREATE_DLQ_TOPIC"], expect=1, timeout=30)
    assert parked.value == kept
    assert parked.headers["dlq.original.size"] == str(len(payload)).encode()
    assert parked.headers["dlq.reason"] == reason.encode()
    assert parked.headers["dlq.source.topic"] == worker_env["KAFKA_USER_CREATE_TOPIC"].encode()
    assert int(parked.headers["dlq.source.offset"]) >= 0
    assert_conforms(parked, "DeadLetter")
    [created] = await read_topic(worker_env["KAFKA_USER_CREATED_TOPIC"], expect=1, timeout=30)
    assert created.headers["commandId"] == after["commandId"].encode()


async def test_a_worker_killed_before_the_outcome_is_durable_gets_it_redelivered_once(
    worker_env: dict[str, str], workers: list[Worker], tmp_path: Path
) -> None:
    worker = await running_worker(workers, worker_env, tmp_path)
    cmd = command()
    blocker = await asyncpg.connect(POSTGRES_URL)
    try:
        # Hold the command log locked: the worker consumes the command, then waits on it.
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute("LOCK TABLE processed_commands IN ACCESS EXCLUSIVE MODE")
        await send(worker_env, cmd)

        async def worker_waits_on_the_lock() -> bool:
            # Another connection: inside a transaction, pg_stat_activity is a frozen snapshot.
            observer = await asyncpg.connect(POSTGRES_URL)
            try:
                waiting = await observer.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND query ILIKE '%processed_commands%'"
                )
            finally:
                await observer.close()
            return bool(waiting)

        await eventually(worker_waits_on_the_lock, timeout=30, what="the command being handled")
        worker.kill()
        await transaction.rollback()
    finally:
        await blocker.close()
    assert await count_users() == 0

    await running_worker(workers, worker_env, tmp_path)
    messages = await read_topic(worker_env["KAFKA_USER_CREATED_TOPIC"], expect=1, timeout=60)
    assert [m.headers["commandId"] for m in messages] == [cmd["commandId"].encode()]
    assert await count_users(cmd["email"]) == 1


@pytest.mark.both_routes
async def test_commands_for_different_emails_are_handled_concurrently_and_all_land(
    worker_env: dict[str, str], workers: list[Worker], tmp_path: Path
) -> None:
    """A batch of eight commands in one burst on one partition, the first of them held up:
    another session has written its email and not committed, so its insert waits. The
    other seven land while it waits: they were not queued behind it.

    Faust's `take_events` flushes on a clock of its own, not one started by a batch's first
    event: a tick between two of the eight deliveries splits the burst, and the seven then
    wait, rightly, behind the held one (at the default 50 ms, now and then on a loaded
    machine; at 1 ms, every time). So the window here is longer than the test: the batch
    is handed over when it holds all eight, and only then."""
    env = {
        **worker_env,
        "BCRYPT_ROUNDS": "8",
        "COMMAND_BATCH_SIZE": "8",
        "COMMAND_BATCH_WINDOW": "600",
    }
    # A first worker creates the topics and leaves, committing nothing (nothing was sent).
    first = await running_worker(workers, env, tmp_path)
    assert first.terminate() == 0
    held, *others = [command() for _ in range(8)]
    created_topic = worker_env["KAFKA_USER_CREATED_TOPIC"]
    blocker = await asyncpg.connect(POSTGRES_URL)
    try:
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute(
            "INSERT INTO users (id, nombre, email, password_hash, created_at) "
            "VALUES ($1, 'Blocker', $2, $3, now())",
            str(uuid.uuid4()),
            held["email"],
            "$2b$04$" + "b" * 53,
        )
        burst: list[tuple[bytes | None, bytes]] = [
            (b"one-partition", json.dumps(c).encode()) for c in (held, *others)
        ]
        await produce_burst(worker_env["KAFKA_USER_CREATE_TOPIC"], burst)
        await running_worker(workers, env, tmp_path)  # its group starts at the earliest offset
        landed = await read_topic(created_topic, expect=len(others), timeout=60)
        assert {m.headers["commandId"] for m in landed} == {c["commandId"].encode() for c in others}
        await transaction.rollback()  # the held command may go on now
    finally:
        await blocker.close()
    messages = await read_topic(created_topic, expect=8, timeout=60)
    assert sorted(m.headers["commandId"] for m in messages) == sorted(
        c["commandId"].encode() for c in (held, *others)
    )


async def test_deeply_nested_poison_in_a_burst_loses_none_of_its_neighbours(
    worker_env: dict[str, str], workers: list[Worker], tmp_path: Path
) -> None:
    """Six valid commands and two ~1 KB values nested 1,100 levels deep, one key, one
    burst (one batch): every command ends with exactly one outcome."""
    worker = await running_worker(workers, worker_env, tmp_path)
    valid = [command(email=f"burst{n}-{uuid.uuid4().hex[:6]}@example.com") for n in range(6)]
    nested = b"[" * 1100 + b"]" * 1100
    values = [json.dumps(c).encode() for c in valid]
    values[2:2] = [nested]
    values[5:5] = [nested]
    await produce_burst(worker_env["KAFKA_USER_CREATE_TOPIC"], [(b"one-key", v) for v in values])

    created = await read_topic(worker_env["KAFKA_USER_CREATED_TOPIC"], expect=6, timeout=60)
    parked = await read_topic(worker_env["KAFKA_USER_CREATE_DLQ_TOPIC"], expect=2, timeout=30)
    assert {m.headers["commandId"].decode() for m in created} == {c["commandId"] for c in valid}
    for email in (c["email"] for c in valid):
        assert await count_users(email) == 1
    assert [m.value for m in parked] == [b"", b""]  # not JSON Python reads: not kept
    assert {m.headers["dlq.reason"] for m in parked} == {b"not_json"}
    assert "RecursionError" not in worker.log_text()


async def test_a_value_too_big_to_park_whole_is_parked_as_its_head_and_the_next_one_flows(
    worker_env: dict[str, str], workers: list[Worker], tmp_path: Path
) -> None:
    """The broker accepts up to 1,048,588 bytes; the worker's producer sends at most
    1,000,000. A command in between is parked truncated, named by its size and digest."""
    await running_worker(workers, worker_env, tmp_path)
    big = b"[" + b"1," * 499_990 + b"1]"  # its re-encoding ("1, 1, ...") is larger still
    after = command()
    await send(worker_env, big, key="k")
    await send(worker_env, after, key="k")
    [parked] = await read_topic(worker_env["KAFKA_USER_CREATE_DLQ_TOPIC"], expect=1, timeout=60)
    assert parked.headers["dlq.reason"] == b"too_large"
    assert parked.headers["dlq.truncated"] == b"true"
    assert parked.headers["dlq.original.size"] == str(len(big)).encode()
    assert parked.headers["dlq.original.size"] == str(len(big)).encode()
    assert parked.value.startswith(b"[1, 1, ") and len(parked.value) == 512 * 1024
    [created] = await read_topic(worker_env["KAFKA_USER_CREATED_TOPIC"], expect=1, timeout=30)
    assert created.headers["commandId"] == after["commandId"].encode()
