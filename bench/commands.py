"""Command path: CreateUser commands on user.create until their USER_CREATED are on the
topic, at bcrypt rounds 4 and 12, beside the bcrypt ceiling."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaProducer

from bench.harness import Results, Row, RssSampler, reset_bench_database, start_worker, worker_env
from bench.http_load import CORES, hash_seconds
from tests.support.kafka import read_topic
from tests.support.services import KAFKA


async def run(results: Results, tmp: Path) -> None:
    for rounds, count in ((4, 1000), (12, 60)):
        url = await reset_bench_database()
        env = worker_env(url, tmp, BCRYPT_ROUNDS=str(rounds))
        worker = start_worker(env, tmp, f"commands-{rounds}")
        await worker.wait_serving()
        producer = AIOKafkaProducer(bootstrap_servers=KAFKA, linger_ms=5)
        await producer.start()
        try:
            async with RssSampler(worker.process.pid) as rss:  # type: ignore[union-attr]
                started = time.monotonic()
                for n in range(count):
                    command = {
                        "commandId": str(uuid.uuid4()),
                        "nombre": "Bench",
                        "email": f"cmd{n}-{uuid.uuid4().hex[:6]}@example.com",
                        "password": "bench-password",
                    }
                    await producer.send(
                        env["KAFKA_USER_CREATE_TOPIC"], json.dumps(command).encode()
                    )
                await producer.flush()
                await read_topic(env["KAFKA_USER_CREATED_TOPIC"], expect=count, timeout=600)
                elapsed = time.monotonic() - started
        finally:
            await producer.stop()
            worker.terminate()
        rate = count / elapsed
        ceiling = CORES / hash_seconds(rounds)
        results.add(
            Row(
                f"commands at bcrypt rounds {rounds}",
                f"{rate:.1f} commands/s ({count} in {elapsed:.1f} s); "
                f"worker RSS peak {rss.peak / 2**20:.0f} MiB",
                f"bcrypt ceiling {ceiling:.1f}/s",
                f"{rate / ceiling:.2f}",
                "",
                f"{count} commands produced at once to user.create (3 partitions), clock until an "
                "independent consumer holds all their USER_CREATED; one worker, "
                "COMMAND_BATCH_SIZE 8",
            )
        )
