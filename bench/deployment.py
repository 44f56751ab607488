"""Per host (issue 25, item 4): the service as docs/scaling.md recommends it (one worker per
core sharing the port, WEB_REUSE_PORT) beside the NestJS peer as the design it replaces
runs it (one process) and in node's cluster mode (one process per core), at bcrypt rounds
4, 10 and 12, in turns."""

from __future__ import annotations

import statistics
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench import nest_peer
from bench.harness import (
    NO_SHEDDING,
    Results,
    Row,
    loadgen,
    reset_bench_database,
    start_worker,
    worker_env,
)
from bench.http_load import CORES
from bench.versus_nest import CLIENTS, TURNS, listed, seconds, short
from tests.support.services import free_port, listening_sockets
from tests.support.waiting import eventually

ROUNDS = (4, 10, 12)
TARGET = 1.2  # rounds 4, per host, against the peer's better deployment


async def service_per_host(tmp: Path, rounds: int) -> float:
    """One worker per core, one group, on one port (the kernel spreads the connections)."""
    url = await reset_bench_database()
    env = worker_env(url, tmp, BCRYPT_ROUNDS=str(rounds), WEB_REUSE_PORT="true", **NO_SHEDDING)
    port = free_port()
    workers = [start_worker(env, tmp, f"host-{rounds}-{n}", port=port) for n in range(CORES)]

    async def all_listening() -> bool:
        for worker in workers:
            worker.assert_alive()
        return listening_sockets(port) == len(workers)

    try:
        await eventually(all_listening, timeout=120, interval=0.2, what="every worker listening")
        for worker in workers:
            await worker.wait_serving()
        run = await loadgen(
            f"{workers[0].base}/users/v1/users", duration=seconds(), concurrency=CLIENTS
        )
    finally:
        for worker in workers:
            worker.terminate()
    return float(run["rate"])


async def nest(rounds: int, *, cluster: bool) -> float:
    async with nest_peer.running(rounds, cluster=cluster) as base:
        run = await loadgen(f"{base}/users/v1/users", duration=seconds(), concurrency=CLIENTS)
    return float(run["rate"])


async def nest_one(tmp: Path, rounds: int) -> float:
    return await nest(rounds, cluster=False)


async def nest_cluster(tmp: Path, rounds: int) -> float:
    return await nest(rounds, cluster=True)


SERVICE = f"service, {CORES} workers on one port (WEB_REUSE_PORT)"
CONTENDERS: dict[str, Callable[[Path, int], Awaitable[float]]] = {
    SERVICE: service_per_host,
    "NestJS peer, one process": nest_one,
    f"NestJS peer, node cluster ({CORES} processes)": nest_cluster,
}


async def run(results: Results, tmp: Path) -> None:
    nest_peer.build()
    names = list(CONTENDERS)
    for rounds in ROUNDS:
        rates: dict[str, list[float]] = {name: [] for name in names}
        for turn in range(1 if short() else TURNS):
            for name in names[turn % len(names) :] + names[: turn % len(names)]:
                rates[name].append(await CONTENDERS[name](tmp, rounds))
        ours = statistics.mean(rates[SERVICE])
        for peer in names[1:]:
            theirs = statistics.mean(rates[peer])
            judged = rounds == 4
            results.add(
                Row(
                    f"rounds {rounds}, per host: service vs {peer}",
                    f"{ours:.1f} creations/s (turns {listed(rates[SERVICE])})",
                    f"{theirs:.1f}/s (turns {listed(rates[peer])})",
                    f"{ours / theirs:.2f}",
                    f">= {TARGET}" if judged else "",
                    f"{CLIENTS} clients back to back on the one port, {seconds():.0f} s a run, "
                    f"{1 if short() else TURNS} turns in rotated order, each on an emptied "
                    "database; the service with HASH_QUEUE=64 (nothing shed, as the peer); "
                    "the peer's processes each with libuv's default pool (4 threads)",
                    met=ours / theirs >= TARGET if judged else None,
                )
            )
