"""What every benchmark needs: the machine, a fresh database, workers, a results table."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from tests.support.services import KAFKA, empty_postgres, kafka_script, require_kafka
from tests.support.web import TEST_JWT_SECRET
from tests.support.worker import Worker

BENCH_DB_URL = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql://users:users@127.0.0.1:5432/users_bench"
)
RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass
class Row:
    """One line of the results table: a figure beside what it is judged against."""

    name: str
    value: str
    compared_with: str = ""
    ratio: str = ""
    target: str = ""
    method: str = ""
    met: bool | None = None  # None: no target


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)

    def add(self, row: Row) -> None:
        self.rows.append(row)
        print(f"  {row.name}: {row.value}  {row.compared_with}  {row.ratio}", flush=True)

    def markdown(self) -> str:
        lines = [
            "| measure | result | beside | ratio | target | met | method |",
            "|---|---|---|---|---|---|---|",
        ]
        verdict = {True: "yes", False: "**no**", None: ""}
        lines += [
            f"| {r.name} | {r.value} | {r.compared_with} | {r.ratio} | {r.target} "
            f"| {verdict[r.met]} | {r.method} |"
            for r in self.rows
        ]
        return "\n".join(lines)


def machine() -> str:
    freq = psutil.cpu_freq()
    return (
        f"{platform.processor() or platform.machine()}, {psutil.cpu_count()} logical cores"
        f"{f' at {freq.max:.0f} MHz' if freq and freq.max else ''}, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB RAM, {platform.platform()}, "
        f"Python {platform.python_version()}"
    )


async def reset_bench_database() -> str:
    return await empty_postgres(BENCH_DB_URL)


# The overhead comparisons measure the work of a creation, against a bare service that
# sheds nothing: with HASH_QUEUE at its default (16) most of 32 back-to-back clients were
# answered 503 at once and came straight back, so the service spent its time refusing.
# With room for every client, each request is a creation, as it is for the bare service.
NO_SHEDDING = {"HASH_QUEUE": "64"}


class CpuClock:
    """CPU seconds (user + system) a process, and its main thread alone, spent from
    `start()` to `stop()`."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self._start = (0.0, 0.0)
        self.process_seconds = self.main_seconds = 0.0

    def _read(self) -> tuple[float, float]:
        times = self.process.cpu_times()
        main = next(t for t in self.process.threads() if t.id == self.process.pid)
        return times.user + times.system, main.user_time + main.system_time

    def start(self) -> None:
        self._start = self._read()

    def stop(self) -> None:
        process, main = self._read()
        self.process_seconds = process - self._start[0]
        self.main_seconds = main - self._start[1]


def is_bench_topic(name: str) -> bool:
    """A topic some benchmark run made: its own names, and those Faust derives from its
    group (`bench-<run>-…`)."""
    return ".bench-" in name or name.startswith(("bench-", "bare.bench-"))


async def delete_bench_topics() -> int:
    """Delete the topics earlier runs left on the broker. Every client's metadata request
    returns every topic: with thousands left by earlier runs, decoding it took a third of
    a draining worker's main thread and some 13 MiB of its memory. Returns how many."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA)
    await admin.start()
    try:
        doomed = [name for name in await admin.list_topics() if is_bench_topic(name)]
        for start in range(0, len(doomed), 200):
            await admin.delete_topics(doomed[start : start + 200], timeout_ms=60_000)
        return len(doomed)
    finally:
        await admin.close()


def worker_env(database_url: str, tmp: Path, **extra: str) -> dict[str, str]:
    run = uuid.uuid4().hex[:10]
    env = {
        "KAFKA_BROKER": KAFKA,
        "KAFKA_GROUP_ID": f"bench-{run}",
        "KAFKA_USER_CREATED_TOPIC": f"user.created.bench-{run}",
        "KAFKA_USER_CREATE_TOPIC": f"user.create.bench-{run}",
        "KAFKA_USER_CREATE_REJECTED_TOPIC": f"user.create.rejected.bench-{run}",
        "KAFKA_USER_CREATE_DLQ_TOPIC": f"user.create.dlq.bench-{run}",
        "DATABASE_URL": database_url,
        "BCRYPT_ROUNDS": "4",
        "AUTH_JWT_SECRET": TEST_JWT_SECRET,
        "FAUST_DATA_DIR": str(tmp / f"faust-{run}"),
    }
    env.update(extra)
    return env


def profile(pid: int, name: str) -> subprocess.Popen[bytes] | None:
    """With BENCH_PROFILE=1: py-spy samples `pid` into bench/results/NAME.folded until
    terminated (collapsed stacks; `python -m bench.top NAME` summarizes them)."""
    if not os.environ.get("BENCH_PROFILE"):
        return None
    RESULTS_DIR.mkdir(exist_ok=True)
    return subprocess.Popen(
        [
            str(Path(sys.executable).parent / "py-spy"),
            "record",
            "--format",
            "raw",
            "--rate",
            "200",
            "-o",
            str(RESULTS_DIR / f"{name}.folded"),
            "--pid",
            str(pid),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop_profile(profiler: subprocess.Popen[bytes] | None) -> None:
    """py-spy writes its file on SIGINT."""
    if profiler is not None:
        profiler.send_signal(signal.SIGINT)
        profiler.wait(timeout=30)


class RssSampler:
    """Peak resident memory of a process, sampled every 0.2 s while in the `async with`."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0
        self.first = 0
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> RssSampler:
        self.first = self.peak = self.process.memory_info().rss
        self._task = asyncio.create_task(self._sample())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _sample(self) -> None:
        while True:
            with contextlib.suppress(psutil.Error):
                self.peak = max(self.peak, self.process.memory_info().rss)
            await asyncio.sleep(0.2)


async def loadgen(url: str, **options: Any) -> dict[str, Any]:
    """Run bench.loadgen in its own process; return its JSON."""
    args = [sys.executable, "-m", "bench.loadgen", url]
    for name, value in options.items():
        if value is not None:
            args += [f"--{name}", str(value)]
    proc = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    assert proc.returncode == 0, "loadgen failed"
    result: dict[str, Any] = json.loads(out)
    return result


def ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:.1f} ms"


STARTED: list[Worker] = []


def start_worker(
    env: dict[str, str],
    tmp: Path,
    name: str = "bench",
    args: list[str] | None = None,
    port: int | None = None,
) -> Worker:
    """A worker as operators run it: `users-service worker` (asyncio's loop unless `args`
    say otherwise), logging at WARNING; on `port` if given (workers sharing it)."""
    worker = Worker(
        {"LOG_LEVEL": "WARNING", **env}, tmp, name=name, via_cli=True, args=args, port=port
    )
    worker.start()
    STARTED.append(worker)
    return worker


def kill_leftovers() -> None:
    """Whatever happened, no worker outlives the benchmark run."""
    for worker in STARTED:
        worker.kill()


__all__ = [
    "BENCH_DB_URL",
    "NO_SHEDDING",
    "RESULTS_DIR",
    "CpuClock",
    "Results",
    "Row",
    "delete_bench_topics",
    "kafka_script",
    "kill_leftovers",
    "machine",
    "require_kafka",
    "reset_bench_database",
    "start_worker",
    "worker_env",
]
