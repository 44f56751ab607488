"""What tracing costs a worker at saturation: off, on with every trace sampled, and on with
a ratio sampler, in turns (the machine drifts: each is judged only against runs of the
same sitting). Spans go to the local Zipkin (`make zipkin-up`), as an operator's would
go to a collector: the export's own cost counts.

`make bench` runs it as `tracing`; BENCH_TRACING_SECONDS and BENCH_TRACING_ROUNDS shorten
it (a check that it runs, not a measurement)."""

from __future__ import annotations

import os
import statistics
from pathlib import Path

from bench.ab import SECONDS, Variant, saturation
from bench.harness import Results, Row
from tests.support.zipkin import ZIPKIN_SPANS_ENDPOINT, require_zipkin

ROUNDS = int(os.environ.get("BENCH_TRACING_ROUNDS", "4"))
RUN_SECONDS = float(os.environ.get("BENCH_TRACING_SECONDS", str(SECONDS)))
RATIO = "0.1"

_ON = {
    "OTEL_SERVICE_NAME": "users-bench",
    "OTEL_TRACES_EXPORTER": "zipkin",
    "OTEL_EXPORTER_ZIPKIN_ENDPOINT": ZIPKIN_SPANS_ENDPOINT,
}
OFF = Variant("tracing off", env={"OTEL_SDK_DISABLED": "true"})
ALL = Variant("sampling 1.0", env={**_ON, "OTEL_TRACES_SAMPLER": "parentbased_always_on"})
RATIO_SAMPLED = Variant(
    f"sampling {RATIO}",
    env={
        **_ON,
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": RATIO,
    },
)


async def run(results: Results, tmp: Path) -> None:
    require_zipkin()
    variants = (OFF, ALL, RATIO_SAMPLED)
    rates: dict[str, list[float]] = {v.name: [] for v in variants}
    for _ in range(ROUNDS):
        for variant in variants:
            rates[variant.name].append(await saturation(tmp, variant, seconds=RUN_SECONDS))
    off = statistics.mean(rates[OFF.name])
    for variant in (ALL, RATIO_SAMPLED):
        on = statistics.mean(rates[variant.name])
        results.add(
            Row(
                f"tracing on ({variant.name}) against off",
                f"{variant.name}: {on:.0f}/s (runs {_runs(rates[variant.name])})",
                f"off: {off:.0f}/s (runs {_runs(rates[OFF.name])})",
                f"{on / off:.2f}",
                ">= 0.9: affordable",
                f"one worker at rounds 4, 32 clients back to back (no client traceparent: "
                f"every request a root), {RUN_SECONDS:g} s a run, exported to Zipkin; "
                f"{ROUNDS} rounds of off, 1.0, {RATIO} in turns, each on a fresh database",
                met=on / off >= 0.9,
            )
        )


def _runs(rates: list[float]) -> str:
    return ", ".join(f"{r:.0f}" for r in rates)
