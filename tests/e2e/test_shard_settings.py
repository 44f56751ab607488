"""Two OUTBOX_SHARDS settings side by side, with real workers on the broker and PostgreSQL:
the worker whose setting is not the one in force relays nothing (issue 26, case 10)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from tests.support.backlog import release_backlog, seed_backlog, wait_published
from tests.support.kafka import read_topic
from tests.support.waiting import eventually
from tests.support.worker import Worker


async def test_a_worker_without_shards_beside_a_sharded_one_publishes_nothing_twice(
    worker_env: dict[str, str], workers: list[Worker], tmp_path: Path
) -> None:
    """Before: the worker without OUTBOX_SHARDS took the single lease and published what
    the shard lanes published, every event twice."""
    topic = worker_env["KAFKA_USER_CREATED_TOPIC"]
    url = worker_env["DATABASE_URL"]
    sharded = Worker({**worker_env, "OUTBOX_SHARDS": "4"}, tmp_path, name="four")
    workers.append(sharded)
    sharded.start()
    await sharded.wait_serving()

    async def all_shards_held() -> bool:
        return bool((await sharded.verification())["outbox"]["relayShards"] == [0, 1, 2, 3])

    await eventually(all_shards_held, timeout=60, what="the sharded worker holding 0-3")
    plain = Worker(worker_env, tmp_path, name="plain")
    workers.append(plain)
    plain.start()
    await plain.wait_serving()

    async def relay_decided() -> dict[str, Any] | None:
        outbox = (await plain.verification())["outbox"]
        decided = outbox["relayLeader"] or outbox.get("relayShardConflict")
        return outbox if decided else None

    outbox = await eventually(relay_decided, timeout=30, what="the plain worker's relay cycling")
    assert outbox is not None

    # Rows that only a relay publishes (no fast path), made pending at once.
    seeded = await seed_backlog(url, topic, 1000, prefix="settings", held=True)
    await release_backlog(url)
    # Once nothing is left to publish, every copy either relay wrote is below the end offsets.
    await wait_published(url, timeout=120)
    messages = await read_topic(topic, expect=len(seeded), timeout=120)
    counts = Counter(m.headers["eventId"].decode() for m in messages)
    duplicates = sum(n - 1 for n in counts.values())
    print(f"\nseeded {len(seeded)}; on the topic {len(messages)}, duplicates {duplicates}")
    assert set(counts) == {s.event_id for s in seeded}
    assert duplicates == 0
    assert outbox["relayLeader"] is False
    assert outbox["relayShardConflict"] == "OUTBOX_SHARDS=4"
    assert (await plain.verification())["outbox"]["publishedTotal"] == 0
    assert "relays with OUTBOX_SHARDS=4 are live" in plain.log_text()
