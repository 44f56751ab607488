"""One worker at rounds 4 under 32 clients back to back for 10 s, sampled by py-spy:
`python -m bench.profile_saturation` then `python -m bench.top service-saturation`."""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

from bench.harness import NO_SHEDDING, kill_leftovers, loadgen, profile, stop_profile
from bench.http_load import serving_worker


async def main() -> None:
    os.environ.setdefault("BENCH_PROFILE", "1")
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        worker = await serving_worker(Path(tmp), BCRYPT_ROUNDS="4", **NO_SHEDDING)
        try:
            profiler = profile(worker.process.pid, "service-saturation")
            run = await loadgen(f"{worker.base}/users/v1/users", duration=10, concurrency=32)
            stop_profile(profiler)
            print(f"{run['rate']:.0f}/s")
        finally:
            worker.terminate()
            kill_leftovers()


if __name__ == "__main__":
    asyncio.run(main())
