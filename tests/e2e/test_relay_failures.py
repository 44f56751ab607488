"""The outbox relay under failure, on the real broker and PostgreSQL: a worker stopped
mid-drain, a row Kafka will never take. Each test says what it counted."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from email.utils import parsedate_to_datetime
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from tests.support.backlog import Seeded, seed_backlog, wait_published
from tests.support.kafka import Consumed, read_topic
from tests.support.services import kafka_script
from tests.support.waiting import eventually
from tests.support.worker import Worker


async def set_payload(url: str, event_id: str, payload: bytes) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "UPDATE outbox SET payload = $1 WHERE event_id = $2", payload.decode(), event_id
        )
    finally:
        await conn.close()


def assert_each_published_once(messages: list[Consumed], seeded: list[Seeded]) -> None:
    """Every seeded event is on the topic, none twice; prints the counts."""
    counts = event_ids(messages)
    duplicates = sum(n - 1 for n in counts.values())
    print(
        f"\nsent {len(seeded)}; on the topic {len(messages)}, distinct {len(counts)}, "
        f"duplicates {duplicates}"
    )
    assert set(counts) == {s.event_id for s in seeded}
    assert duplicates == 0


def event_ids(messages: list[Consumed]) -> Counter[str]:
    return Counter(m.headers["eventId"].decode() for m in messages)


@pytest.mark.both_routes
async def test_sigterm_mid_drain_then_another_worker_publishes_each_event_once(
    worker_env: dict[str, str], workers: list[Worker], tmp_path: Path
) -> None:
    """The issue's trial: a backlog of 5,000, the first worker stopped while it drains it,
    a second one drains the rest. Before: 7,000 messages for 5,000 events."""
    topic = worker_env["KAFKA_USER_CREATED_TOPIC"]
    seeded = await seed_backlog(worker_env["DATABASE_URL"], topic, 5000)
    env = {**worker_env, "OUTBOX_BATCH_SIZE": "50"}
    first = Worker(env, tmp_path, name="first")
    workers.append(first)
    first.start()
    await first.wait_serving(kafka=False)

    async def draining() -> bool:
        return bool((await first.verification())["outbox"]["publishedTotal"] >= 200)

    await eventually(draining, timeout=60, interval=0.02, what="the first worker draining")
    assert first.terminate(timeout=30) == 0

    second = Worker(env, tmp_path, name="second")
    workers.append(second)
    second.start()
    await wait_published(worker_env["DATABASE_URL"], timeout=120)
    messages = await read_topic(topic, expect=len(seeded), timeout=60)
    assert_each_published_once(messages, seeded)


async def test_a_row_kafka_never_takes_is_parked_and_the_rows_behind_it_flow(
    worker_env: dict[str, str], workers: list[Worker], tmp_path: Path
) -> None:
    """A value over the producer's 1,000,000-byte limit at the head of the backlog. Before:
    it failed itself and every later row of its batch, every cycle, for good."""
    topic = worker_env["KAFKA_USER_CREATED_TOPIC"]
    url = worker_env["DATABASE_URL"]
    [huge] = await seed_backlog(url, topic, 1, prefix="huge")
    await set_payload(url, huge.event_id, b'{"padding": "' + b"x" * 1_100_000 + b'"}')
    behind = await seed_backlog(url, topic, 20, prefix="behind")
    worker = Worker({**worker_env, "OUTBOX_MAX_ATTEMPTS": "3"}, tmp_path)
    workers.append(worker)
    worker.start()
    messages = await read_topic(topic, expect=len(behind), timeout=60)
    assert set(event_ids(messages)) == {s.event_id for s in behind}

    async def parked() -> bool:
        outbox = (await worker.verification())["outbox"]
        return bool(outbox["parked"] == 1 and outbox["pending"] == 0)

    await eventually(parked, timeout=60, what="the huge row parked, nothing else pending")
    status = await worker.verification()
    assert "MessageSizeTooLarge" in (status["outbox"]["lastError"] or "")
    assert status["outbox"]["kafkaAvailable"]  # one bad row does not close the fast path


async def clock_ahead_by(worker: Worker) -> float:
    """How far the worker's wall clock is ahead of ours, in seconds, as the `Date` header
    of its HTTP answers shows it (to the second)."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(worker.base + "/livez") as resp,
    ):
        served = parsedate_to_datetime(resp.headers["Date"]).timestamp()
    return served - time.time()


LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
HAVE_LIBFAKETIME = LIBFAKETIME.exists()


async def test_a_worker_whose_clock_runs_30s_ahead_never_takes_a_live_lease(
    worker_env: dict[str, str], workers: list[Worker], tmp_path: Path
) -> None:
    """Two workers on one backlog, one of them on a host clock 30 s ahead (libfaketime).
    Leases timed by each worker's own clock let it take the live lease and publish beside
    the leader; timed by the database's clock, it waits its turn."""
    if not HAVE_LIBFAKETIME:
        pytest.fail(f"{LIBFAKETIME} is missing: `make test` installs Debian's faketime")
    topic = worker_env["KAFKA_USER_CREATED_TOPIC"]
    env = {**worker_env, "OUTBOX_BATCH_SIZE": "20"}
    skewed = {
        **env,
        "LD_PRELOAD": str(LIBFAKETIME),
        "FAKETIME": "+30s",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",  # asyncio's timers stay sane
    }
    for name, settings in (("punctual", env), ("ahead", skewed)):
        worker = Worker(settings, tmp_path, name=name)
        workers.append(worker)
        worker.start()
    # Both relays up and polling before the backlog appears: they compete for it.
    await asyncio.gather(*(w.wait_serving() for w in workers))
    # libfaketime really moved the second one's clock (else this test proves nothing).
    punctual, ahead = workers
    assert abs(await clock_ahead_by(punctual)) < 5
    assert 25 < await clock_ahead_by(ahead) < 35
    seeded = await seed_backlog(worker_env["DATABASE_URL"], topic, 3000)
    await wait_published(worker_env["DATABASE_URL"], timeout=120)
    messages = await read_topic(topic, expect=len(seeded), timeout=60)
    assert_each_published_once(messages, seeded)


async def test_a_worker_that_is_not_the_leader_reopens_its_fast_path_after_an_outage(
    worker_env: dict[str, str], workers: list[Worker], tmp_path: Path
) -> None:
    """Before: after one Kafka blip a non-leader's fast path stayed closed for good (only a
    publish of its own could reopen it, and it had nothing else to publish)."""
    env = {**worker_env, "KAFKA_REQUEST_TIMEOUT": "3", "OUTBOX_LEASE_TTL": "6"}
    for name in ("one", "two"):
        worker = Worker(env, tmp_path, name=name)
        workers.append(worker)
        worker.start()
    await asyncio.gather(*(w.wait_serving() for w in workers))

    async def follower() -> Worker | None:
        statuses = [await w.verification() for w in workers]
        leaders = [s["outbox"]["relayLeader"] for s in statuses]
        return workers[leaders.index(False)] if leaders.count(True) == 1 else None

    other = await eventually(follower, timeout=30, what="one leader, one follower")
    assert other is not None
    await asyncio.to_thread(kafka_script, "down")
    try:
        status, _, _ = await other.post_user(
            {"nombre": "Blip", "email": "blip@example.com", "password": "correct-horse"}
        )
        assert status == 201  # stored; its fast-path send fails: the fast path closes

        async def closed() -> bool:
            return not (await other.verification())["outbox"]["kafkaAvailable"]

        await eventually(closed, timeout=30, what="the follower's fast path closed")
    finally:
        await asyncio.to_thread(kafka_script, "up")
    before = (await other.verification())["outbox"]["publishedTotal"]

    async def fast_path_publishes() -> bool:
        # A new sign-up on the follower goes out through its own fast path again.
        n = uuid.uuid4().hex[:6]
        body = {"nombre": "After", "email": f"after-{n}@example.com", "password": "pass-word"}
        await other.post_user(body)
        return bool((await other.verification())["outbox"]["publishedTotal"] > before)

    await eventually(fast_path_publishes, timeout=60, interval=1.0, what="the follower publishing")
