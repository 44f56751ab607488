"""Interleaved A/B trials (A B A B …) of one worker at saturation: the machine drifts by up
to 2x within minutes, so a change is judged only against its alternative run in turns in
the same sitting."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path

from bench.harness import (
    BENCH_DB_URL,
    NO_SHEDDING,
    Results,
    Row,
    loadgen,
    reset_bench_database,
    start_worker,
    worker_env,
)
from tests.support.services import empty_postgres, free_port, listening_sockets
from tests.support.waiting import eventually

ROUNDS = 2
SECONDS = 8


@dataclass(frozen=True)
class Variant:
    name: str
    env: dict[str, str] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)


TRIALS: dict[str, tuple[Variant, Variant]] = {
    "event loop": (Variant("asyncio (the default)"), Variant("uvloop", args=["-L", "uvloop"])),
    "PostgreSQL TLS on loopback": (
        Variant(
            "TLS (asyncpg's default 'prefer')", env={"DATABASE_URL": BENCH_DB_URL + "?ssl=prefer"}
        ),
        Variant("no TLS (the loopback default now)"),
    ),
    # The cost of verifying in the worker that serves HTTP: what a verifier role (another
    # worker of the group with VERIFIER_ENABLED=true) takes off it.
    "verifier off the HTTP worker": (
        Variant("verifier in the worker"),
        Variant("VERIFIER_ENABLED=false", env={"VERIFIER_ENABLED": "false"}),
    ),
}


async def saturation(
    tmp: Path, variant: Variant, url: str | None = None, *, seconds: float = SECONDS
) -> float:
    """Creations/s of one worker at rounds 4 under 32 clients back to back for `seconds`,
    on `url` (emptied first) or the benchmark's database."""
    url = await empty_postgres(url) if url else await reset_bench_database()
    env = worker_env(url, tmp, BCRYPT_ROUNDS="4", **{**NO_SHEDDING, **variant.env})
    worker = start_worker(env, tmp, f"ab-{len(variant.name)}", args=variant.args)
    try:
        await worker.wait_serving()
        run = await loadgen(f"{worker.base}/users/v1/users", duration=seconds, concurrency=32)
    finally:
        worker.terminate()
    return float(run["rate"])


async def two_workers(tmp: Path) -> float:
    """Creations/s of two workers of one group on this host sharing one port
    (WEB_REUSE_PORT: the kernel spreads the 32 clients' connections), one database."""
    url = await reset_bench_database()
    env = worker_env(url, tmp, BCRYPT_ROUNDS="4", WEB_REUSE_PORT="true", **NO_SHEDDING)
    port = free_port()
    pair = [start_worker(env, tmp, f"ab-pair-{n}", port=port) for n in range(2)]

    async def both_listening() -> bool:
        for worker in pair:
            worker.assert_alive()
        return listening_sockets(port) == 2

    try:
        await eventually(both_listening, timeout=120, interval=0.2, what="both workers listening")
        await pair[0].wait_serving()
        run = await loadgen(f"{pair[0].base}/users/v1/users", duration=SECONDS, concurrency=32)
    finally:
        for worker in pair:
            worker.terminate()
    return float(run["rate"])


async def run(results: Results, tmp: Path) -> None:
    await compare_processes(results, tmp)
    for what, (before, after) in TRIALS.items():
        rates: dict[str, list[float]] = {before.name: [], after.name: []}
        for _ in range(ROUNDS):
            for variant in (before, after):
                rates[variant.name].append(await saturation(tmp, variant))
        a, b = (statistics.mean(rates[v.name]) for v in (before, after))

        def runs(name: str, rates: dict[str, list[float]] = rates) -> str:
            return ", ".join(f"{r:.0f}" for r in rates[name])

        results.add(
            Row(
                f"A/B {what}",
                f"{after.name}: {b:.0f}/s (runs {runs(after.name)})",
                f"{before.name}: {a:.0f}/s (runs {runs(before.name)})",
                f"{b / a:.2f}",
                "> 1: keep it",
                f"one worker at rounds 4, 32 clients back to back, {SECONDS} s a run, "
                f"HASH_QUEUE=64, {ROUNDS} rounds of A then B, each on a fresh database",
                met=b > a,
            )
        )


async def compare_processes(results: Results, tmp: Path) -> None:
    """Both cores at rounds 4: one worker against two on this host, in turns."""
    rates: dict[str, list[float]] = {"one": [], "two": []}
    for _ in range(ROUNDS):
        rates["one"].append(await saturation(tmp, Variant("one worker")))
        rates["two"].append(await two_workers(tmp))
    one, two = statistics.mean(rates["one"]), statistics.mean(rates["two"])
    results.add(
        Row(
            "A/B one worker or two on this host",
            f"two workers: {two:.0f}/s (runs {', '.join(f'{r:.0f}' for r in rates['two'])})",
            f"one worker: {one:.0f}/s (runs {', '.join(f'{r:.0f}' for r in rates['one'])})",
            f"{two / one:.2f}",
            "> 1: run one per core",
            f"rounds 4, 32 clients back to back ({SECONDS} s a run; two workers of one group "
            f"on one port, WEB_REUSE_PORT=true, one database), HASH_QUEUE=64, {ROUNDS} "
            "rounds in turns",
            met=two > one,
        )
    )
