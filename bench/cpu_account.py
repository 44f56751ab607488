"""Where a creation's CPU goes on the whole machine, this service beside its peers.

At saturation each fills the 2 cores, so their ratio of creations/s follows their ratio
of CPU per creation, counted over every process that works for it: the server (its main
thread and its other threads: bcrypt, or node's libuv pool and V8's helpers), PostgreSQL,
the Kafka broker and the load generator. `python -m bench.cpu_account [TURNS]
[--bcrypt-rounds N] [--nest]`: 32 clients back to back, 10 s each, the service, the bare
peer (and the NestJS peer) in turns; CPU from /proc (user + system) over the middle 8 s
of each run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench import nest_peer
from bench.harness import (
    NO_SHEDDING,
    kill_leftovers,
    loadgen,
    reset_bench_database,
    start_worker,
    worker_env,
)
from bench.http_load import start_bare
from tests.support.kafka import create_topic

SECONDS = 10
PARTS = ("main", "threads", "postgres", "kafka", "loadgen")


def _ticks(path: str) -> int:
    with open(path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def _snapshot(service_pid: int) -> Counter[str]:
    """CPU ticks so far by part; the service's own process is split into its main thread
    and the rest."""
    ticks: Counter[str] = Counter()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline") as f:
                cmd = f.read()
            used = _ticks(f"/proc/{pid}/stat")
        except OSError:
            continue  # gone meanwhile
        if int(pid) == service_pid:
            main = _ticks(f"/proc/{pid}/task/{pid}/stat")
            ticks["main"] += main
            ticks["threads"] += used - main
        elif "loadgen" in cmd:
            ticks["loadgen"] += used
        elif cmd.startswith("postgres") or "/bin/postgres\0" in cmd:
            ticks["postgres"] += used
        elif "kafka.Kafka" in cmd:
            ticks["kafka"] += used
    return ticks


async def account(url: str, pid: int) -> tuple[float, dict[str, float]]:
    """Creations/s and CPU ms per creation by part, over the middle of a saturation run."""

    async def sample() -> tuple[Counter[str], Counter[str], float]:
        await asyncio.sleep(1.0)
        before, started = _snapshot(pid), time.monotonic()
        await asyncio.sleep(SECONDS - 2.0)
        return before, _snapshot(pid), time.monotonic() - started

    sampling = asyncio.ensure_future(sample())
    run = await loadgen(url, duration=SECONDS, concurrency=32)
    before, after, elapsed = await sampling
    hertz = os.sysconf("SC_CLK_TCK")
    rate = float(run["rate"])
    return rate, {p: (after[p] - before[p]) / hertz / elapsed / rate * 1000 for p in PARTS}


async def service(tmp: Path, rounds: int) -> tuple[float, dict[str, float]]:
    url = await reset_bench_database()
    env = worker_env(url, tmp, BCRYPT_ROUNDS=str(rounds), **NO_SHEDDING)
    worker = start_worker(env, tmp, "cpu")
    try:
        await worker.wait_serving()
        assert worker.process is not None
        return await account(f"{worker.base}/users/v1/users", worker.process.pid)
    finally:
        worker.terminate()


async def bare(tmp: Path, rounds: int) -> tuple[float, dict[str, float]]:
    await reset_bench_database()
    topic = f"bare.bench-{time.time_ns()}"
    await create_topic(topic, partitions=3)
    process, base = await start_bare(topic, rounds)
    try:
        return await account(f"{base}/users/v1/users", process.pid)
    finally:
        process.terminate()
        await process.wait()


def _node_pid() -> int:
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline") as f:
                if f.read().startswith("node\0dist/main.js"):
                    return int(pid)
        except OSError:
            continue
    raise RuntimeError("the NestJS peer's process is not running")


async def nest(tmp: Path, rounds: int) -> tuple[float, dict[str, float]]:
    async with nest_peer.running(rounds) as base:
        return await account(f"{base}/users/v1/users", _node_pid())


CONTENDERS = {"service": service, "bare": bare, "nest": nest}


def line(name: str, rate: float, parts: dict[str, float]) -> str:
    each = "  ".join(f"{p} {parts[p]:.2f}" for p in PARTS)
    return f"{name:8s} {rate:5.0f}/s  CPU ms per creation: all {sum(parts.values()):.2f} = {each}"


async def main(turns: int, rounds: int, names: list[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        try:
            for _ in range(turns):
                for name in names:
                    print(line(name, *await CONTENDERS[name](Path(tmp), rounds)), flush=True)
        finally:
            kill_leftovers()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("turns", nargs="?", type=int, default=2)
    parser.add_argument("--bcrypt-rounds", type=int, default=4)
    parser.add_argument("--nest", action="store_true", help="the NestJS peer too (built first)")
    args = parser.parse_args()
    if args.nest:
        nest_peer.build()
    names = ["service", "bare", *(["nest"] if args.nest else [])]
    asyncio.run(main(args.turns, args.bcrypt_rounds, names))
