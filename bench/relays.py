"""Parallel relays: a 20k backlog drained by 1, 2 and 4 workers sharing OUTBOX_SHARDS
shards, beside one worker with today's single relay, in one sitting.

The workers start first and share out the shards; only then is the backlog written
(parked, then released by one statement, so every relay sees all of it at once). The
figure is the records' CreateTime from the first to the last, read by an independent
consumer, as in `drain`. The workers do not verify (VERIFIER_ENABLED=false): the figure
is the relays'."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.harness import Results, Row, reset_bench_database, start_worker, worker_env
from tests.support.backlog import release_backlog, seed_backlog
from tests.support.kafka import create_topic, read_topic
from tests.support.waiting import eventually
from tests.support.worker import Worker
from users_service.adapters.storage.migrations import migrate

COUNT = 20_000
SHARDS = 8


@dataclass(frozen=True)
class Setup:
    name: str
    workers: int
    shards: int


SETUPS = [
    Setup("1 worker, one relay (OUTBOX_SHARDS=1)", 1, 1),
    Setup(f"1 relay, {SHARDS} shards", 1, SHARDS),
    Setup(f"2 relays, {SHARDS} shards", 2, SHARDS),
    Setup(f"4 relays, {SHARDS} shards", 4, SHARDS),
]


async def shared_out(workers: list[Worker], shards: int) -> bool:
    """Every shard held, and by every worker no more than its fair share."""
    outboxes = [(await w.verification())["outbox"] for w in workers]
    if shards == 1:
        return any(outbox["relayLeader"] for outbox in outboxes)
    held = [outbox["relayShards"] for outbox in outboxes]
    share = -(-shards // len(workers))
    every = sorted(s for h in held for s in h)
    return every == list(range(shards)) and all(0 < len(h) <= share for h in held)


async def drain_rate(tmp: Path, setup: Setup) -> float:
    url = await reset_bench_database()
    env = worker_env(
        url,
        tmp,
        OUTBOX_POLL_INTERVAL="0.2",
        OUTBOX_SHARDS=str(setup.shards),
        VERIFIER_ENABLED="false",
        KAFKA_PARTITIONS="6",
    )
    topic = env["KAFKA_USER_CREATED_TOPIC"]
    await create_topic(topic, partitions=6)
    await migrate(url)
    workers = [start_worker(env, tmp, f"relays-{setup.workers}-{n}") for n in range(setup.workers)]
    try:
        for worker in workers:
            await worker.wait_serving(timeout=120)
        await eventually(
            lambda: shared_out(workers, setup.shards),
            timeout=120,
            interval=0.5,
            what=f"{setup.name}: shards shared out",
        )
        # Written parked (no relay reads those), then released in one statement: every
        # relay sees the whole backlog at once, however long the writing took.
        await seed_backlog(url, topic, COUNT, prefix=f"relays{setup.workers}", held=True)
        await release_backlog(url)
        messages = await read_topic(topic, expect=COUNT, timeout=600)
    finally:
        for worker in workers:
            worker.terminate()
    created = sorted(m.timestamp_ms / 1000 for m in messages)
    assert len({m.value for m in messages}) == COUNT
    return (COUNT - 1) / (created[-1] - created[0])


async def run(results: Results, tmp: Path) -> None:
    rates = {}
    for setup in SETUPS:
        rates[setup] = await drain_rate(tmp, setup)
        print(f"  {setup.name}: {rates[setup]:,.0f} events/s", flush=True)
    base = rates[SETUPS[0]]
    for setup in SETUPS[1:]:
        results.add(
            Row(
                f"outbox drain, {setup.name}",
                f"{rates[setup]:,.0f} events/s",
                f"{SETUPS[0].name}: {base:,.0f} events/s",
                f"{rates[setup] / base:.2f}",
                "",
                f"{COUNT} rows made pending by one statement once the workers held their "
                "shards; the records' CreateTime, first to last, read by an independent "
                "consumer; VERIFIER_ENABLED=false; 2 cores shared by workers, broker, database",
            )
        )
