"""`make bench`: run the benchmarks, print the table, save it under bench/results/."""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import tempfile
from pathlib import Path

from bench import (
    ab,
    bcrypt_ceiling,
    commands,
    deployment,
    drain,
    hasher,
    http_load,
    overload,
    pooler,
    relays,
    tracing_cost,
    versus_nest,
)
from bench.harness import (
    RESULTS_DIR,
    Results,
    delete_bench_topics,
    kafka_script,
    kill_leftovers,
    machine,
    require_kafka,
)

BENCHMARKS = {
    "http": http_load.run,
    "drain": drain.run,
    "relays": relays.run,
    "commands": commands.run,
    "ab": ab.run,
    "pooler": pooler.run,
    "bcrypt": bcrypt_ceiling.run,
    "nest": versus_nest.run,
    "tracing": tracing_cost.run,
    "overload": overload.run,
    "deploy": deployment.run,
    "hasher": hasher.run,
}


async def main(names: list[str]) -> None:
    require_kafka()
    print(f"deleted {await delete_bench_topics()} topics of earlier runs", flush=True)
    results = Results()
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        try:
            for name in names:
                print(f"== {name}", flush=True)
                await BENCHMARKS[name](results, Path(tmp))
        finally:
            kill_leftovers()
            kafka_script("up")  # a failed drain run must not leave the broker stopped
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    report = f"Run {stamp} on {machine()}\n\n{results.markdown()}\n"
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "latest.md").write_text(report)
    print("\n" + report)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", help=f"some of {', '.join(BENCHMARKS)} (default: all)")
    parser.add_argument(
        "--short",
        action="store_true",
        help="bcrypt, nest, overload, deploy, hasher: a few seconds a run, to show they work "
        "(figures not to keep)",
    )
    args = parser.parse_args()
    if args.short:
        os.environ["BENCH_SHORT"] = "1"
    names = args.names or list(BENCHMARKS)
    unknown = set(names) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    asyncio.run(main(names))
