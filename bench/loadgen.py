"""HTTP load generator, run as its own process so it does not share the worker's loop.

    python -m bench.loadgen URL --duration 10 (--concurrency 16 | --rate 50) [--probe PATH]

Closed loop (`--concurrency`): that many clients POST back to back (saturation).
Open loop (`--rate`): POSTs start at a fixed rate whatever the answers (offered load).
`--probe` GETs that path every 50 ms meanwhile, to see whether the event loop stays
responsive. Prints one JSON object: counts by status, latencies, per-user answer times.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
import uuid
from typing import Any

import aiohttp


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Run:
    def __init__(self, url: str, prefix: str) -> None:
        self.url = url
        self.prefix = prefix
        self.statuses: dict[int, int] = {}
        self.latencies: list[float] = []
        self.answered: dict[str, float] = {}  # user id -> wall clock of the 201
        self.errors = 0
        self.n = 0

    async def post(self, session: aiohttp.ClientSession) -> None:
        self.n += 1
        body = {
            "nombre": "Bench",
            "email": f"{self.prefix}-{self.n}-{uuid.uuid4().hex[:6]}@example.com",
            "password": "bench-password",
        }
        started = time.monotonic()
        try:
            async with session.post(self.url, json=body) as resp:
                payload = await resp.json()
                self.statuses[resp.status] = self.statuses.get(resp.status, 0) + 1
                if resp.status == 201:
                    self.answered[payload["id"]] = time.time()
                    self.latencies.append(time.monotonic() - started)
        except aiohttp.ClientError:
            self.errors += 1


async def closed_loop(run: Run, session: aiohttp.ClientSession, clients: int, until: float) -> None:
    async def client() -> None:
        while time.monotonic() < until:
            await run.post(session)

    await asyncio.gather(*(client() for _ in range(clients)))


async def open_loop(run: Run, session: aiohttp.ClientSession, rate: float, until: float) -> None:
    tasks = []
    start = time.monotonic()
    sent = 0
    while (now := time.monotonic()) < until:
        due = int((now - start) * rate) + 1
        for _ in range(due - sent):
            tasks.append(asyncio.create_task(run.post(session)))
        sent = due
        await asyncio.sleep(0.002)
    await asyncio.gather(*tasks)


async def probe(session: aiohttp.ClientSession, url: str, until: float, out: list[float]) -> None:
    while time.monotonic() < until:
        started = time.monotonic()
        async with session.get(url) as resp:
            await resp.read()
        out.append(time.monotonic() - started)
        await asyncio.sleep(0.05)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    run = Run(args.url, uuid.uuid4().hex[:8])
    probes: list[float] = []
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.monotonic()
        until = started + args.duration
        work = (
            closed_loop(run, session, args.concurrency, until)
            if args.rate is None
            else open_loop(run, session, args.rate, until)
        )
        jobs = [work]
        # The probe on a connection of its own, as an orchestrator's: never behind a POST.
        async with aiohttp.ClientSession() as probing:
            if args.probe:
                jobs.append(probe(probing, args.probe, until, probes))
            await asyncio.gather(*jobs)
        elapsed = time.monotonic() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "elapsed": elapsed,
        "created": run.statuses.get(201, 0),
        "statuses": run.statuses,
        "errors": run.errors,
        "rate": run.statuses.get(201, 0) / elapsed,
        "p50": percentile(run.latencies, 0.5),
        "p99": percentile(run.latencies, 0.99),
        "probe_p50": percentile(probes, 0.5),
        "probe_p99": percentile(probes, 0.99),
        "probe_max": max(probes, default=None),
        "probes": len(probes),
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "answered": run.answered,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rate", type=float, default=None)
    parser.add_argument("--probe", default=None)
    json.dump(asyncio.run(main(parser.parse_args())), sys.stdout)
