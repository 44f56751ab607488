"""Goodput under overload (issue 25): one worker at bcrypt rounds 12 with the default
admission queue, under 200 clients that retry at once (a 503 is sent again straight away,
Retry-After ignored), beside the same worker under 16 clients; `/livez` probed meanwhile
on a connection of its own, as an orchestrator probes it."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from bench.harness import Results, Row, loadgen, ms
from bench.http_load import serving_worker
from bench.versus_nest import short

ROUNDS = 12
CALM, STORM = 16, 200
TARGET_RATIO, TARGET_LIVEZ_P99 = 0.9, 0.100


def seconds() -> float:
    return 6.0 if short() else 20.0


def turns() -> int:
    return 1 if short() else 2


async def load(tmp: Path, clients: int) -> dict[str, Any]:
    """One run of `clients` back to back against a fresh worker on an emptied database."""
    worker = await serving_worker(tmp, BCRYPT_ROUNDS=str(ROUNDS))
    try:
        return await loadgen(
            f"{worker.base}/users/v1/users",
            duration=seconds(),
            concurrency=clients,
            probe=f"{worker.base}/livez",
        )
    finally:
        worker.terminate()


def listed(values: list[float], digits: int = 2) -> str:
    return ", ".join(f"{v:.{digits}f}" for v in values)


async def run(results: Results, tmp: Path) -> None:
    runs: dict[int, list[dict[str, Any]]] = {CALM: [], STORM: []}
    for turn in range(turns()):
        order = (CALM, STORM) if turn % 2 == 0 else (STORM, CALM)
        for clients in order:
            runs[clients].append(await load(tmp, clients))
            last = runs[clients][-1]
            print(
                f"  {clients} clients: {last['rate']:.2f}/s, answers {last['statuses']}, "
                f"/livez p99 {ms(last['probe_p99'])}, loadgen CPU {last['cpu_seconds']:.1f} s",
                flush=True,
            )
    calm = [r["rate"] for r in runs[CALM]]
    storm = [r["rate"] for r in runs[STORM]]
    ratio = statistics.mean(storm) / statistics.mean(calm)
    livez_p99 = max(r["probe_p99"] or 0.0 for r in runs[STORM])
    refused = [r["statuses"].get("503", 0) for r in runs[STORM]]
    results.add(
        Row(
            f"goodput at rounds {ROUNDS}, {STORM} clients retrying at once",
            f"{statistics.mean(storm):.2f} creations/s (turns {listed(storm)}); "
            f"503 overloaded {listed(refused, 0)}; /livez p99 {ms(livez_p99)} (worst turn), "
            f"max {ms(max(r['probe_max'] or 0.0 for r in runs[STORM]))}; load generator CPU "
            f"{listed([r['cpu_seconds'] for r in runs[STORM]], 1)} s",
            f"{CALM} clients: {statistics.mean(calm):.2f}/s (turns {listed(calm)})",
            f"{ratio:.2f}",
            f">= {TARGET_RATIO}, and /livez p99 < {TARGET_LIVEZ_P99 * 1000:.0f} ms",
            f"one worker, HASH_QUEUE at its default (16), bench.loadgen in its own process "
            f"(aiohttp, keep-alive), clients back to back, a 503 sent again at once; "
            f"{seconds():.0f} s a run, {turns()} turns in alternating order, each on a fresh "
            "worker and an emptied database; GET /livez every 50 ms on its own connection",
            met=ratio >= TARGET_RATIO and livez_p99 < TARGET_LIVEZ_P99,
        )
    )
