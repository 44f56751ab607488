"""The hasher before and after (issue 25, item 2): one worker hashing with pyca/bcrypt
(`PASSWORD_HASHER=pyca`, what it used before) against the same worker with the start-up
choice (`auto`: libxcrypt where its self-test passes), at rounds 10 and 12, in turns."""

from __future__ import annotations

import statistics
from pathlib import Path

from bench.harness import Results, Row
from bench.versus_nest import CLIENTS, TURNS, listed, seconds, service, short

VARIANTS = {"pyca/bcrypt (PASSWORD_HASHER=pyca)": "pyca", "start-up choice (auto)": "auto"}


async def creations(tmp: Path, rounds: int, choice: str) -> float:
    return await service(tmp, rounds, PASSWORD_HASHER=choice)


async def run(results: Results, tmp: Path) -> None:
    turns = 1 if short() else TURNS
    (before, pyca), (after, auto) = VARIANTS.items()
    for rounds in (10, 12):
        rates: dict[str, list[float]] = {before: [], after: []}
        for turn in range(turns):
            order = [(before, pyca), (after, auto)]
            for name, choice in order if turn % 2 == 0 else order[::-1]:
                rates[name].append(await creations(tmp, rounds, choice))
        a, b = statistics.mean(rates[before]), statistics.mean(rates[after])
        results.add(
            Row(
                f"rounds {rounds}: the hasher's start-up choice vs pyca/bcrypt",
                f"{after}: {b:.1f} creations/s (turns {listed(rates[after])})",
                f"{before}: {a:.1f}/s (turns {listed(rates[before])})",
                f"{b / a:.2f}",
                "> 1: keep it",
                f"one worker, {CLIENTS} clients back to back, {seconds():.0f} s a run, "
                f"{turns} turns in alternating order, HASH_QUEUE=64, each on an emptied "
                "database",
                met=b > a,
            )
        )
