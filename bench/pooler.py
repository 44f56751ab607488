"""Creations/s at rounds 4: straight to PostgreSQL against through PgBouncer in transaction
mode (make pgbouncer-up), and asynchronous against synchronous replication to a standby;
each in turns (A B A B …), as the other A/B trials (bench/ab.py)."""

from __future__ import annotations

import os
import statistics
import subprocess
from pathlib import Path

from bench.ab import SECONDS, Variant, saturation
from bench.harness import BENCH_DB_URL, Results, Row
from tests.support.services import ROOT, port_open

ROUNDS = 2
PGBOUNCER_PORT = int(os.environ.get("PGBOUNCER_PORT", "6432"))
PGBOUNCER_URL = BENCH_DB_URL.replace("@127.0.0.1:5432/", f"@127.0.0.1:{PGBOUNCER_PORT}/")
# A primary and standby of the benchmark's own: switching the suite's PostgreSQL to
# synchronous commit would slow everything else on the machine.
PAIR = {
    "PRIMARY_CLUSTER": "bench_primary",
    "PRIMARY_PORT": os.environ.get("BENCH_PRIMARY_PORT", "5436"),
    "STANDBY_CLUSTER": "bench_standby",
    "STANDBY_PORT": os.environ.get("BENCH_STANDBY_PORT", "5437"),
}
PAIR_URL = f"postgresql://users:users@127.0.0.1:{PAIR['PRIMARY_PORT']}/users_bench"

POOLER_VARIANTS = (
    Variant("direct (statement cache)"),
    Variant("direct, DATABASE_POOLER=transaction", env={"DATABASE_POOLER": "transaction"}),
    Variant(
        "PgBouncer 1.18, transaction mode",
        env={"DATABASE_URL": PGBOUNCER_URL, "DATABASE_POOLER": "transaction"},
    ),
)


def script(name: str, action: str, **env: str) -> None:
    subprocess.run(
        [str(ROOT / "ops/postgres" / name), action], check=True, env={**os.environ, **env}
    )


async def pair_saturation(tmp: Path, replication: str) -> float:
    """Creations/s of one worker on the benchmark's primary, its standby `replication`."""
    script("replica.sh", "up", REPLICATION=replication, **PAIR)
    return await saturation(tmp, Variant(f"sync-{replication}"), PAIR_URL)


def runs(rates: list[float]) -> str:
    return ", ".join(f"{r:.0f}" for r in rates)


async def pooler(results: Results, tmp: Path) -> None:
    if not port_open("127.0.0.1", PGBOUNCER_PORT):
        raise SystemExit(f"PgBouncer does not answer on :{PGBOUNCER_PORT} (make pgbouncer-up)")
    rates: dict[str, list[float]] = {v.name: [] for v in POOLER_VARIANTS}
    for _ in range(ROUNDS):
        for variant in POOLER_VARIANTS:
            rates[variant.name].append(await saturation(tmp, variant))
    base = statistics.mean(rates[POOLER_VARIANTS[0].name])
    for variant in POOLER_VARIANTS[1:]:
        rate = statistics.mean(rates[variant.name])
        results.add(
            Row(
                f"A/B {variant.name}",
                f"{rate:.0f}/s (runs {runs(rates[variant.name])})",
                f"direct: {base:.0f}/s (runs {runs(rates[POOLER_VARIANTS[0].name])})",
                f"{rate / base:.2f}",
                "the price of the pooler",
                f"one worker at rounds 4, 32 clients back to back, {SECONDS} s a run, "
                f"HASH_QUEUE=64, {ROUNDS} rounds of the three in turns",
                met=True,
            )
        )


async def synchronous_commit(results: Results, tmp: Path) -> None:
    script(
        "postgres.sh",
        "up",
        PG_CLUSTER=PAIR["PRIMARY_CLUSTER"],
        PG_PORT=PAIR["PRIMARY_PORT"],
        PG_DATABASES="users_bench",
    )
    try:
        rates: dict[str, list[float]] = {"async": [], "sync": []}
        for _ in range(ROUNDS):
            for mode in ("async", "sync"):
                rates[mode].append(await pair_saturation(tmp, mode))
    finally:
        script("replica.sh", "down", **PAIR)
        script("postgres.sh", "drop", PG_CLUSTER=PAIR["PRIMARY_CLUSTER"])
    a, s = statistics.mean(rates["async"]), statistics.mean(rates["sync"])
    results.add(
        Row(
            "A/B synchronous replication",
            f"synchronous_standby_names set: {s:.0f}/s (runs {runs(rates['sync'])})",
            f"asynchronous: {a:.0f}/s (runs {runs(rates['async'])})",
            f"{s / a:.2f}",
            "the price of losing no 201 in a failover",
            f"one worker at rounds 4, 32 clients back to back, {SECONDS} s a run, a standby on "
            f"the same host (loopback), {ROUNDS} rounds in turns",
            met=True,
        )
    )


async def run(results: Results, tmp: Path) -> None:
    await pooler(results, tmp)
    await synchronous_commit(results, tmp)
