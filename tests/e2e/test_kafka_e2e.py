"""End to end on the real broker and PostgreSQL: a `faust worker` process, an independent
consumer, and the outages the outbox exists for."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import databases
import pytest
import sqlalchemy as sa

from tests.support.asyncapi import assert_conforms
from tests.support.backlog import seed_backlog, wait_published
from tests.support.kafka import Consumed, create_topic, read_topic
from tests.support.services import KAFKA, direct_url, kafka_script
from tests.support.waiting import eventually
from tests.support.worker import Worker
from users_service.adapters.storage import schema
from users_service.adapters.storage.database import make_database
from users_service.adapters.storage.migrations import migrate
from users_service.adapters.storage.unit_of_work import DatabaseUnitOfWork
from users_service.domain.clock import utc_now_ms
from users_service.domain.model import OutboxMessage, new_id

PASSWORD = "Tr4ceable-Secret-9f3a"


def body(n: int | str) -> dict[str, str]:
    return {"nombre": f"Usuario {n}", "email": f"user{n}@example.com", "password": PASSWORD}


async def start_worker(
    workers: list[Worker], env: dict[str, str], tmp_path: Path, **kw: Any
) -> Worker:
    worker = Worker(env, tmp_path, name=f"worker{len(workers)}")
    workers.append(worker)
    worker.start(**kw)
    return worker


async def max_attempts(url: str) -> int:
    db = make_database(direct_url(url))
    await db.connect()
    try:
        return int(await db.fetch_val(sa.select(sa.func.max(schema.outbox.c.attempts))))
    finally:
        await db.disconnect()


async def stored_users(url: str) -> list[dict[str, Any]]:
    db = make_database(direct_url(url))
    await db.connect()
    try:
        rows = await db.fetch_all(schema.users.select())
        return [dict(r._mapping) for r in rows]
    finally:
        await db.disconnect()


def distinct_event_ids(messages: list[Consumed]) -> Counter[str]:
    return Counter(json.loads(m.value)["eventId"] for m in messages)


@pytest.fixture
def kafka_restored() -> Any:
    """Whatever a test does to the broker, it is running again afterwards."""
    yield
    kafka_script("up")


@pytest.mark.both_routes
async def test_created_user_event_is_on_the_topic_exactly_as_documented(
    worker_env: dict[str, str], workers: list[Worker], tmp_path: Path
) -> None:
    worker = await start_worker(workers, worker_env, tmp_path)
    await worker.wait_serving()
    status, user, _ = await worker.post_user(body(1))
    assert status == 201

    [message] = await read_topic(worker_env["KAFKA_USER_CREATED_TOPIC"], expect=1, timeout=30)
    event = json.loads(message.value)
    assert event == {
        "eventType": "USER_CREATED",
        "eventId": event["eventId"],
        "timestamp": event["timestamp"],
        "data": user,
    }
    uuid.UUID(event["eventId"])
    assert message.key == user["id"].encode()
    # The service's own headers, and the CloudEvents ones beside them (test_cloud_events_e2e).
    own = {k: v for k, v in message.headers.items() if not k.startswith("ce_")}
    assert own == {
        "eventType": b"USER_CREATED",
        "eventId": event["eventId"].encode(),
        "content-type": b"application/json",
    }
    assert b"__faust" not in message.value
    assert_conforms(message, "UserCreated")
    assert PASSWORD.encode() not in message.value and b"$2b$" not in message.value

    # The self-verifying consumer saw it, and found it matches the database.
    async def verified() -> bool:
        counts = await worker.verification()
        return bool(counts["verified"] == 1 and counts["reconciliation"]["unverifiedUsers"] == 0)

    await eventually(verified, timeout=30, what="the verifier to verify the event")
    counts = await worker.verification()
    assert (counts["received"], counts["failed"], counts["duplicates"]) == (1, 0, 0)


@pytest.mark.both_routes
async def test_kafka_outage_never_fails_a_creation_nor_loses_its_event(
    worker_env: dict[str, str], workers: list[Worker], tmp_path: Path, kafka_restored: None
) -> None:
    """Kafka stopped -> 200 users created -> Kafka started -> all 200 events, no restart."""
    topic = worker_env["KAFKA_USER_CREATED_TOPIC"]
    worker = await start_worker(workers, worker_env, tmp_path)
    await worker.wait_serving()
    assert (await worker.post_user(body("before")))[0] == 201
    await read_topic(topic, expect=1, timeout=30)

    async def nothing_pending() -> bool:
        return bool((await worker.verification())["outbox"]["pending"] == 0)

    await eventually(nothing_pending, timeout=30, what="the first event marked published")
    kafka_script("down")
    latencies = []
    for n in range(200):
        status, _, seconds = await worker.post_user(body(n))
        assert status == 201
        latencies.append(seconds)
    # Not a benchmark: the point is that no request waits for Kafka's request timeout.
    assert max(latencies) < float(worker_env["KAFKA_REQUEST_TIMEOUT"])
    backlog = (await worker.verification())["outbox"]
    assert backlog["pending"] == 200

    kafka_script("up")
    came_back = time.monotonic()
    await wait_published(worker_env["DATABASE_URL"], timeout=90)
    drained_after = time.monotonic() - came_back
    messages = await read_topic(topic, expect=201, timeout=30)
    ids = distinct_event_ids(messages)
    assert len(ids) == 201 and set(ids.values()) == {1}
    users = await stored_users(worker_env["DATABASE_URL"])
    assert {json.loads(m.value)["data"]["id"] for m in messages} == {u["id"] for u in users}
    # An outage is nobody's fault: no row was counted towards parking. (Faust's producer
    # wraps aiokafka's KafkaTimeoutError in an error that hid it: every send of the outage
    # counted as an attempt, and a longer outage would have parked the backlog.)
    assert await max_attempts(worker_env["DATABASE_URL"]) == 0
    worker.assert_alive()
    print(
        f"\nbacklog of 200 published {drained_after:.2f}s after Kafka answered again; "
        f"slowest POST during the outage {max(latencies) * 1000:.0f} ms"
    )

    async def drained() -> bool:
        status = await worker.verification()
        return status["outbox"]["pending"] == 0 and status["outbox"]["kafkaAvailable"] is True

    await eventually(drained, timeout=30, what="outbox drained")
    log = worker.log_text()
    # Bounded logging: the outage is reported, not once per message or per retry.
    assert log.count("publishing to Kafka failed") <= 5
    assert log.count("Unable connect to") <= 10


async def test_worker_starts_and_serves_while_kafka_is_down_then_drains(
    worker_env: dict[str, str], workers: list[Worker], tmp_path: Path, kafka_restored: None
) -> None:
    kafka_script("down")
    worker = await start_worker(workers, worker_env, tmp_path)
    await worker.wait_serving(kafka=False)
    for n in range(5):
        assert (await worker.post_user(body(n)))[0] == 201

    async def waiting_in_the_outbox() -> bool:  # the status is read at most once a second
        outbox = (await worker.verification())["outbox"]
        return bool(outbox["pending"] == 5 and outbox["kafkaAvailable"] is False)

    await eventually(waiting_in_the_outbox, timeout=10, what="five events waiting")

    kafka_script("up")
    await wait_published(worker_env["DATABASE_URL"], timeout=90)
    messages = await read_topic(worker_env["KAFKA_USER_CREATED_TOPIC"], expect=5, timeout=30)
    assert len(distinct_event_ids(messages)) == 5 == len(messages)
    worker.assert_alive()


async def test_sigkill_during_a_burst_loses_no_event(
    worker_env: dict[str, str], workers: list[Worker], tmp_path: Path
) -> None:
    """Every user stored before the kill has exactly one distinct event after the restart."""
    worker = await start_worker(workers, worker_env, tmp_path)
    await worker.wait_serving()

    async def client(n: int) -> None:
        for i in range(1000):
            try:
                await worker.post_user(body(f"{n}-{i}"))
            except Exception:
                return  # the worker is gone

    clients = [asyncio.create_task(client(n)) for n in range(8)]

    async def some_stored() -> bool:
        return len(await stored_users(worker_env["DATABASE_URL"])) >= 60

    await eventually(some_stored, timeout=60, what="a burst under way")
    worker.kill()
    await asyncio.gather(*clients)
    users = await stored_users(worker_env["DATABASE_URL"])

    restarted = await start_worker(workers, worker_env, tmp_path)
    await restarted.wait_serving()
    await wait_published(worker_env["DATABASE_URL"], timeout=90)
    messages = await read_topic(
        worker_env["KAFKA_USER_CREATED_TOPIC"], expect=len(users), timeout=90
    )
    by_user: dict[str, set[str]] = {}
    for m in messages:
        event = json.loads(m.value)
        by_user.setdefault(event["data"]["id"], set()).add(event["eventId"])
    assert set(by_user) == {u["id"] for u in users}
    assert all(len(event_ids) == 1 for event_ids in by_user.values())
    print(
        f"\n{len(users)} users stored before SIGKILL; {len(messages)} messages on the topic "
        f"({len(messages) - len(by_user)} redelivered duplicates)"
    )


async def backlog(url: str, topic: str, count: int) -> list[str]:
    """The event ids of `count` users and their pending events, written straight to the
    database, as a backlog."""
    return [seeded.event_id for seeded in await seed_backlog(url, topic, count)]


@pytest.mark.both_routes
async def test_two_workers_on_one_database_never_publish_a_row_twice(
    worker_env: dict[str, str], workers: list[Worker], tmp_path: Path
) -> None:
    topic = worker_env["KAFKA_USER_CREATED_TOPIC"]
    expected = await backlog(worker_env["DATABASE_URL"], topic, 1500)
    env = {**worker_env, "OUTBOX_BATCH_SIZE": "100"}
    first = await start_worker(workers, env, tmp_path)
    second = await start_worker(workers, env, tmp_path)
    await asyncio.gather(first.wait_serving(), second.wait_serving())
    await wait_published(worker_env["DATABASE_URL"], timeout=120)
    messages = await read_topic(topic, expect=len(expected), timeout=60)
    ids = distinct_event_ids(messages)
    assert len(messages) == len(ids) == len(expected)
    assert set(ids) == set(expected)


async def test_events_of_one_key_arrive_in_insertion_order(
    worker_env: dict[str, str], workers: list[Worker], tmp_path: Path
) -> None:
    topic = f"order.test-{uuid.uuid4().hex[:8]}"
    await create_topic(topic, partitions=3)
    await migrate(worker_env["DATABASE_URL"])
    db: databases.Database = make_database(worker_env["DATABASE_URL"])
    await db.connect()
    keys = ["alpha", "beta", "gamma", "delta"]
    try:
        for seq in range(300):
            key = keys[seq % len(keys)]
            message = OutboxMessage(
                event_id=new_id(),
                event_type="SEQUENCE_TEST",
                aggregate_type="test",
                aggregate_id=key,
                topic=topic,
                key=key,
                payload=json.dumps({"key": key, "seq": seq}).encode(),
                headers={"eventType": "SEQUENCE_TEST"},
                created_at=utc_now_ms(),
            )
            async with DatabaseUnitOfWork(db) as uow:
                await uow.outbox.add(message)
    finally:
        await db.disconnect()
    worker = await start_worker(workers, {**worker_env, "OUTBOX_BATCH_SIZE": "32"}, tmp_path)
    await worker.wait_serving()
    await wait_published(worker_env["DATABASE_URL"], timeout=60)
    messages = await read_topic(topic, expect=300, timeout=30)
    by_key: dict[str, list[int]] = {}
    for m in sorted(messages, key=lambda m: (m.partition, m.offset)):
        payload = json.loads(m.value)
        assert m.key == payload["key"].encode()
        by_key.setdefault(payload["key"], []).append(payload["seq"])
    for key, seqs in by_key.items():
        assert seqs == sorted(seqs), f"{key} out of order"
        assert len(seqs) == 75


async def test_sigterm_flushes_pending_events_and_exits(
    worker_env: dict[str, str], workers: list[Worker], tmp_path: Path
) -> None:
    topic = worker_env["KAFKA_USER_CREATED_TOPIC"]
    worker = await start_worker(workers, worker_env, tmp_path)
    await worker.wait_serving()
    # Rows the relay has not seen yet: written straight to the database.
    expected = await backlog(worker_env["DATABASE_URL"], topic, 50)
    assert worker.terminate(timeout=30) == 0
    messages = await read_topic(topic, expect=len(expected), timeout=30)
    assert set(distinct_event_ids(messages)) == set(expected)
    assert "shutdown: published" in worker.log_text()


async def test_no_password_or_hash_in_logs_responses_or_events(
    worker_env: dict[str, str], workers: list[Worker], tmp_path: Path
) -> None:
    worker = await start_worker(workers, worker_env, tmp_path, loglevel="debug")
    await worker.wait_serving()
    responses = []
    for n in range(3):
        status, response, _ = await worker.post_user(body(n))
        assert status == 201
        responses.append(json.dumps(response))
    responses.append(json.dumps((await worker.post_user(body(0)))[1]))  # a 409
    messages = await read_topic(worker_env["KAFKA_USER_CREATED_TOPIC"], expect=3, timeout=30)
    hashes = [u["password_hash"] for u in await stored_users(worker_env["DATABASE_URL"])]
    assert len(hashes) == 3

    async def verified() -> bool:
        return bool((await worker.verification())["verified"] == 3)

    await eventually(verified, timeout=30, what="events verified")
    worker.terminate()
    log = worker.log_text()
    # DEBUG really was on: `databases` logs every query at that level (parameters redacted).
    assert "FROM users" in log
    for text in [log, *responses, *(m.value.decode() for m in messages)]:
        assert PASSWORD not in text
        for password_hash in hashes:
            assert password_hash not in text
            assert password_hash[7:] not in text  # not even the salt and digest alone


async def test_send_message_puts_any_value_on_any_topic(kafka: None) -> None:
    """The generic helper, with the app's own producer, seen by an independent consumer."""
    import faust

    from models.events import UserCreated
    from users_service.adapters.kafka.publisher import send_message

    topic = f"misc.test-{uuid.uuid4().hex[:8]}"
    await create_topic(topic, partitions=1)
    app = faust.App(f"send-message-{uuid.uuid4().hex[:6]}", broker=f"kafka://{KAFKA}")
    await app.producer.start()
    try:
        record = UserCreated.from_data(
            {
                "eventType": "USER_CREATED",
                "eventId": new_id(),
                "timestamp": "2026-01-01T00:00:00.000Z",
                "data": {
                    "id": "u1",
                    "nombre": "Ana",
                    "email": "a@example.com",
                    "createdAt": "2026-01-01T00:00:00.000Z",
                },
            }
        )
        await send_message(app, topic, "u1", record, {"eventType": "USER_CREATED"})
        await send_message(app, topic, b"k2", {"plain": "json"})
    finally:
        await app.producer.stop()
    first, second = await read_topic(topic, expect=2, timeout=30)
    assert (first.key, json.loads(first.value)["data"]["id"]) == (b"u1", "u1")
    assert b"__faust" not in first.value and first.headers == {"eventType": b"USER_CREATED"}
    assert (second.key, json.loads(second.value)) == (b"k2", {"plain": "json"})


async def test_a_broker_restarted_under_sign_ups_parks_no_event(
    worker_env: dict[str, str], workers: list[Worker], tmp_path: Path, kafka_restored: None
) -> None:
    """Sign-ups keep flowing while the broker stops and starts again (a rolling restart of a
    one-broker cluster): every user's USER_CREATED is delivered once the broker is back,
    none parked, without an operator's `outbox retry`."""
    topic = worker_env["KAFKA_USER_CREATED_TOPIC"]
    worker = await start_worker(workers, worker_env, tmp_path)
    await worker.wait_serving()
    restarted = asyncio.Event()
    statuses: Counter[int] = Counter()

    async def sign_ups(lane: int) -> None:
        # Four lanes keep sends in flight on the fast path when the broker goes.
        n = 0
        while not restarted.is_set() or n < 60:
            status, _, _ = await worker.post_user(body(f"{lane}-{n}"))
            statuses[status] += 1
            n += 1

    async def flowing() -> bool:
        return sum(statuses.values()) >= 40

    lanes = [asyncio.create_task(sign_ups(lane)) for lane in range(4)]
    await eventually(flowing, timeout=30, what="sign-ups flowing")
    await asyncio.to_thread(kafka_script, "down")
    await asyncio.to_thread(kafka_script, "up")
    restarted.set()
    await asyncio.gather(*lanes)
    assert set(statuses) == {201}

    async def settled() -> dict[str, Any] | None:
        outbox = (await worker.verification())["outbox"]
        return outbox if outbox["pending"] == 0 else None

    outbox = await eventually(settled, timeout=120, what="nothing pending in the outbox")
    assert outbox is not None
    assert outbox["parked"] == 0, (outbox, statuses)
    users = await stored_users(worker_env["DATABASE_URL"])
    messages = await read_topic(topic, expect=len(users), timeout=30)
    per_user = Counter(json.loads(m.value)["data"]["id"] for m in messages)
    assert set(per_user) == {u["id"] for u in users}
