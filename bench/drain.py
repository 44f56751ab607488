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
    kafka_script,
    profile,
    reset_bench_database,
    start_worker,
    stop_profile,
    worker_env,
)
from tests.support.backlog import seed_backlog
from tests.support.kafka import create_topic, read_topic
from tests.support.services import KAFKA


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
    """Backlog of `count` built with Kafka down, then timed until all is on the topic."""
    url = await reset_bench_database()
    env = worker_env(
        url, tmp, OUTBOX_POLL_INTERVAL="0.2", OUTBOX_BATCH_SIZE=os.environ.get("BENCH_BATCH", "500")
    )
    topic = env["KAFKA_USER_CREATED_TOPIC"]
    await create_topic(topic, partitions=3)
    kafka_script("down")
    try:
        worker = start_worker(env, tmp, f"drain-{count}")
        await worker.wait_serving(kafka=False)
        payloads = await seed(url, topic, count)
        assert worker.process is not None
        rss = RssSampler(worker.process.pid)
        waiting_rss = rss.process.memory_info().rss
    finally:
        kafka_script("up")
    came_back = time.monotonic()
    came_back_wall = time.time()
    profiler = profile(worker.process.pid, f"drain-{count}")
    async with rss:
        messages = await read_topic(topic, expect=count, timeout=600, settle=0.0)
    drain_seconds = time.monotonic() - came_back
    stop_profile(profiler)
    worker.terminate()
    # When the producer created each record (Kafka's CreateTime): the consumer may get
    # them in one burst after the fact, the timestamps say when the relay sent them.
    arrivals = sorted(m.timestamp_ms / 1000 for m in messages)
    return {
        "topic": topic,
        "payloads": payloads,
        "seconds": drain_seconds,
        # The relay's own pace: first event to last. The clock from `kafka.sh up` also holds
        # the worker's reconnection (its gate's backoff, the producer's start, the topics).
        "flow_seconds": arrivals[-1] - arrivals[0],
        "first_after": arrivals[0] - came_back_wall,
        "distinct": len({m.value for m in messages}),
        "waiting_rss": waiting_rss,
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
            f"{relay_rate:,.0f} events/s from the first event to the last (record "
            f"timestamps); the first {big['first_after']:+.1f} s from `kafka.sh up` returning",
            f"bare aiokafka producer: {bare:,.0f} events/s",
            f"{relay_rate / bare:.2f}",
            ">= 0.5",
            f"{count} users+outbox rows seeded in PostgreSQL while Kafka was stopped; the "
            f"records' CreateTime at an independent consumer holding all {count} "
            f"({big['distinct']} distinct); bare: same payloads, acks=all, await all acks",
            met=relay_rate / bare >= 0.5,
        )
    )
    results.add(
        Row(
            "worker RSS vs backlog size",
            f"20k backlog: {big['waiting_rss'] / 2**20:.0f} MiB waiting, "
            f"{big['peak_rss'] / 2**20:.0f} MiB peak while draining",
            f"2k backlog: {small['waiting_rss'] / 2**20:.0f} MiB waiting, "
            f"{small['peak_rss'] / 2**20:.0f} MiB peak",
            f"{big['peak_rss'] / small['peak_rss']:.2f}",
            "<= 100 MiB, and flat (<= 1.15x the 2k peak)",
            "psutil RSS of the worker process, sampled every 0.2 s",
            met=big["peak_rss"] <= 100 * 2**20 and big["peak_rss"] <= 1.15 * small["peak_rss"],
        )
    )
