"""At production costs (bcrypt rounds 10 and 12): the service beside the NestJS peer and
the bare service, one process each, in turns, and beside the bcrypt ceiling (the fastest
implementation on this machine, one thread per core), measured before and after."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench import bcrypt_ceiling, nest_peer
from bench.harness import NO_SHEDDING, Results, Row, loadgen, reset_bench_database
from bench.http_load import serving_worker, start_bare
from tests.support.kafka import create_topic

CLIENTS = 32


def short() -> bool:
    """`python -m bench --short`: a few seconds a run, to show the bench works."""
    return os.environ.get("BENCH_SHORT") == "1"


def seconds() -> float:
    return 4.0 if short() else 15.0


TURNS = 2


async def service(tmp: Path, rounds: int, **env: str) -> float:
    """Creations/s of one worker at `rounds`, nothing shed, with `env` added."""
    worker = await serving_worker(tmp, BCRYPT_ROUNDS=str(rounds), **NO_SHEDDING, **env)
    try:
        run = await loadgen(
            f"{worker.base}/users/v1/users", duration=seconds(), concurrency=CLIENTS
        )
    finally:
        worker.terminate()
    return float(run["rate"])


async def nest(tmp: Path, rounds: int) -> float:
    async with nest_peer.running(rounds) as base:
        run = await loadgen(f"{base}/users/v1/users", duration=seconds(), concurrency=CLIENTS)
    return float(run["rate"])


async def bare(tmp: Path, rounds: int) -> float:
    await reset_bench_database()
    topic = f"bare.bench-{time.time_ns()}"
    await create_topic(topic, partitions=3)
    process, base = await start_bare(topic, rounds)
    try:
        run = await loadgen(f"{base}/users/v1/users", duration=seconds(), concurrency=CLIENTS)
    finally:
        process.terminate()
        await process.wait()
    return float(run["rate"])


CONTENDERS: dict[str, Callable[[Path, int], Awaitable[float]]] = {
    "service": service,
    "NestJS peer": nest,
    "bare aiohttp+asyncpg+aiokafka": bare,
}


def listed(rates: list[float]) -> str:
    return ", ".join(f"{rate:.1f}" for rate in rates)


async def run(results: Results, tmp: Path) -> None:
    nest_peer.build()
    implementations = bcrypt_ceiling.available(nest_peer.PEER_DIR)
    quick = short()
    for rounds in (10, 12):
        ceiling = bcrypt_ceiling.measure(implementations, rounds, 1, quick)
        rates: dict[str, list[float]] = {name: [] for name in CONTENDERS}
        names = list(CONTENDERS)
        for turn in range(TURNS):
            for name in names[turn % len(names) :] + names[: turn % len(names)]:
                rates[name].append(await CONTENDERS[name](tmp, rounds))
        bcrypt_ceiling.measure(implementations, rounds, 1, quick, into=ceiling)
        bcrypt_ceiling.report(results, ceiling, implementations)
        ours = statistics.mean(rates["service"])
        method = (
            f"one process each on PostgreSQL and Kafka, bench.loadgen in its own process, "
            f"{CLIENTS} clients back to back, {seconds():.0f} s a run, {TURNS} turns in "
            "rotated order, each on an emptied database; the service with HASH_QUEUE=64 "
            "(nothing shed), the peer as documented (libuv's default pool of 4 threads)"
        )
        for peer in ("NestJS peer", "bare aiohttp+asyncpg+aiokafka"):
            theirs = statistics.mean(rates[peer])
            results.add(
                Row(
                    f"rounds {rounds}: service vs {peer}",
                    f"service {ours:.1f} creations/s (turns {listed(rates['service'])})",
                    f"{peer} {theirs:.1f}/s (turns {listed(rates[peer])})",
                    f"{ours / theirs:.2f}",
                    ">= 1.2" if peer == "NestJS peer" else "",
                    method
                    + ("; the bare service hashes with pyca/bcrypt" if "bare" in peer else ""),
                    met=ours / theirs >= 1.2 if peer == "NestJS peer" else None,
                )
            )
        fastest, limit = ceiling.best()
        best = max(rates["service"])
        results.add(
            Row(
                f"rounds {rounds}: service vs the bcrypt ceiling",
                f"service {best:.1f} creations/s (its best turn)",
                f"{fastest}, {bcrypt_ceiling.CORES} threads: {limit:.1f} hashes/s (its best turn)",
                f"{best / limit:.2f}",
                ">= 0.9",
                "the ceiling measured in the bench process before and after the service runs, "
                "every implementation in turns; " + method,
                met=best / limit >= 0.9,
            )
        )
