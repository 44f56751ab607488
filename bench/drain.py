"""Outbox drain: a backlog built while Kafka is down, timed until it is all on the topic,
beside a bare aiokafka producer writing the same payloads to the same broker."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from bench.harness import (
    Results,
    Row,
    RssSampler,
    profile,
    reset_bench_database,
    start_worker,
    stop_profile,
    worker_env,
)
from tests.support.backlog import seed_backlog
from tests.support.kafka import create_topic, read_topic
from tests.support.services import KAFKA
from users_service.adapters.storage.migrations import migrate


async def seed(url: str, topic: str, count: int) -> list[dict[str, str]]:
    """`count` users and their pending USER_CREATED rows, inserted in bulk."""
    seeded = await seed_backlog(url, topic, count, prefix="drain")
    return [{"key": s.key, "value": s.value.decode()} for s in seeded]


async def bare_producer_rate(topic: str, payloads: list[dict[str, str]]) -> float:
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA, acks="all", linger_ms=0)
    await producer.start()
    try:
        started = time.monotonic()
        futures = [
            await producer.send(topic, p["value"].encode(), key=p["key"].encode()) for p in payloads
        ]
        await asyncio.gather(*futures)
        return len(payloads) / (time.monotonic() - started)
    finally:
        await producer.stop()


async def drain_once(tmp: Path, count: int) -> dict[str, Any]:
    """A backlog of `count` rows written while no worker runs, then one worker started:
    the relay's pace from its first record to its last, with a healthy broker throughout
    (the broker's own start is not in the figure)."""
    url = await reset_bench_database()
    env = worker_env(
        url, tmp, OUTBOX_POLL_INTERVAL="0.2", OUTBOX_BATCH_SIZE=os.environ.get("BENCH_BATCH", "500")
    )
    topic = env["KAFKA_USER_CREATED_TOPIC"]
    await create_topic(topic, partitions=3)
    # The schema first (a worker's start), then the backlog behind its back.
    await migrate(url)
    payloads = await seed(url, topic, count)
    worker = start_worker(env, tmp, f"drain-{count}")
    assert worker.process is not None
    profiler = profile(worker.process.pid, f"drain-{count}")
    async with RssSampler(worker.process.pid) as rss:
        messages = await read_topic(topic, expect=count, timeout=600)
    stop_profile(profiler)
    worker.terminate()
    # When the producer created each record (Kafka's CreateTime).
    created = sorted(m.timestamp_ms / 1000 for m in messages)
    return {
        "topic": topic,
        "payloads": payloads,
        "flow_seconds": created[-1] - created[0],
        "distinct": len({m.value for m in messages}),
        "peak_rss": rss.peak,
    }


async def run(results: Results, tmp: Path) -> None:
    small = await drain_once(tmp, 2_000)
    big = await drain_once(tmp, 20_000)
    count = 20_000
    bare_topic = f"{big['topic']}.bare"
    await create_topic(bare_topic, partitions=3)
    bare = await bare_producer_rate(bare_topic, big["payloads"])
    relay_rate = (count - 1) / big["flow_seconds"]
    results.add(
        Row(
            "outbox drain, 20k backlog",
            f"{relay_rate:,.0f} events/s ({big['flow_seconds']:.1f} s from the first record "
            "to the last)",
            f"bare aiokafka producer: {bare:,.0f} events/s",
            f"{relay_rate / bare:.2f}",
            ">= 0.5",
            f"{count} users+outbox rows seeded in PostgreSQL with no worker running, then "
            f"one worker started; the records' CreateTime, read by an independent consumer "
            f"holding all {count} ({big['distinct']} distinct); bare: same payloads, "
            "acks=all, await all acks",
            met=relay_rate / bare >= 0.5,
        )
    )
    results.add(
        Row(
            "worker RSS vs backlog size",
            f"20k backlog: {big['peak_rss'] / 2**20:.0f} MiB peak from start to drained",
            f"2k backlog: {small['peak_rss'] / 2**20:.0f} MiB peak",
            f"{big['peak_rss'] / small['peak_rss']:.2f}",
            "<= 100 MiB, and flat (<= 1.15x the 2k peak)",
            "psutil RSS of the worker process, sampled every 0.2 s",
            met=big["peak_rss"] <= 100 * 2**20 and big["peak_rss"] <= 1.15 * small["peak_rss"],
        )
    )
