"""The NestJS peer (bench/peers/nest-users): built with npm from its lock file, run as its
team runs it (one `node dist/main.js`), on the benchmark's database and broker."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp

from bench.harness import reset_bench_database
from tests.support.kafka import create_topic
from tests.support.services import KAFKA, free_port
from tests.support.waiting import eventually

PEER_DIR = Path(__file__).resolve().parent / "peers" / "nest-users"


def build() -> None:
    """`npm ci && npm run build`: the pinned dependencies, then the TypeScript."""
    for command in (["npm", "ci", "--no-audit", "--no-fund"], ["npm", "run", "build"]):
        subprocess.run(command, cwd=PEER_DIR, check=True, stdout=subprocess.DEVNULL)


@contextlib.asynccontextmanager
async def running(rounds: int, *, cluster: bool = False) -> AsyncIterator[str]:
    """The peer on a free port at bcrypt `rounds`, on an emptied benchmark database (it
    makes its table at start) and a topic of its own; yields its base URL. With `cluster`,
    in node's cluster mode (`dist/cluster.js`: one process per core on the one port)."""
    url = await reset_bench_database()
    topic = f"nest.bench-{time.time_ns()}"
    await create_topic(topic, partitions=3)
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "KAFKA_BROKER": KAFKA,
        "WEB_PORT": str(port),
        "BCRYPT_ROUNDS": str(rounds),
        "KAFKA_USER_CREATED_TOPIC": topic,
    }
    # As its documentation runs it: libuv's default pool (4 threads) hashes.
    env.pop("UV_THREADPOOL_SIZE", None)
    entry = "dist/cluster.js" if cluster else "dist/main.js"
    process = await asyncio.create_subprocess_exec(
        "node", entry, cwd=PEER_DIR, env=env, stdout=asyncio.subprocess.PIPE
    )
    base = f"http://127.0.0.1:{port}"
    ready = asyncio.Event()

    async def relay_output() -> None:
        # Its own lines go on to the bench's output; the cluster's primary says when
        # every process listens.
        assert process.stdout is not None
        while line := await process.stdout.readline():
            if line.startswith(b"cluster: ") and b"listening" in line:
                ready.set()
            else:
                print(line.decode(errors="replace"), end="", flush=True)

    output = asyncio.create_task(relay_output())

    async def up() -> bool:
        assert process.returncode is None, "the NestJS peer exited"
        try:
            async with aiohttp.ClientSession() as session, session.get(base + "/") as resp:
                return resp.status == 200
        except aiohttp.ClientError:
            return False

    try:
        await eventually(up, timeout=60, interval=0.2, what="the NestJS peer serving")
        if cluster:
            await asyncio.wait_for(ready.wait(), timeout=60)
        yield base
    finally:
        if process.returncode is None:
            process.terminate()
        await process.wait()
        await output
