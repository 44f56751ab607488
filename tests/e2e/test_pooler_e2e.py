"""Workers behind PgBouncer (Debian's 1.18, transaction mode, no prepared-statement
support): the load that answered 261 of 300 sign-ups with 500 before DATABASE_POOLER
existed, and the wrong combination refused at start."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path

import aiohttp
import pytest

from tests.support.backlog import wait_published
from tests.support.kafka import produce_burst, read_topic
from tests.support.services import PGBOUNCER_URL, POSTGRES_URL, require_pgbouncer
from tests.support.waiting import eventually
from tests.support.worker import Worker

SIGN_UPS = 300
COMMANDS = 40


async def sign_up_all(workers: list[Worker], count: int) -> list[int]:
    """`count` valid sign-ups sent at once, shared out between `workers`; their statuses."""
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(n: int) -> int:
            url = f"{workers[n % len(workers)].base}/users/v1/users"
            body = {"nombre": f"Pool {n}", "email": f"pool{n}@example.com", "password": "pw-123456"}
            timeout = aiohttp.ClientTimeout(total=120)
            async with session.post(url, json=body, timeout=timeout) as response:
                await response.read()
                return response.status

        return list(await asyncio.gather(*(one(n) for n in range(count))))


@pytest.mark.both_routes
async def test_concurrent_sign_ups_and_commands_on_two_workers_all_succeed(
    worker_env: dict[str, str], workers: list[Worker], tmp_path: Path, database_route: str
) -> None:
    env = {
        **worker_env,
        # Every sign-up waits for bcrypt rather than being shed: the point is the database.
        "HASH_QUEUE": str(SIGN_UPS),
        "DATABASE_POOL_TIMEOUT": "30",
    }
    if database_route == "pgbouncer":
        env["DATABASE_MIGRATION_URL"] = POSTGRES_URL  # the documented split
    first = Worker(env, tmp_path, name="first")
    second = Worker(env, tmp_path, name="second")
    workers += [first, second]
    first.start()
    second.start()
    await asyncio.gather(first.wait_serving(), second.wait_serving())

    commands = [str(uuid.uuid4()) for _ in range(COMMANDS)]
    started = time.monotonic()
    burst = produce_burst(
        env["KAFKA_USER_CREATE_TOPIC"],
        [
            (
                command_id.encode(),
                json.dumps(
                    {
                        "commandId": command_id,
                        "nombre": "Cmd",
                        "email": f"cmd-{command_id}@example.com",
                        "password": "pw-123456",
                        "requestedAt": "2026-12-03T10:00:00Z",
                    }
                ).encode(),
            )
            for command_id in commands
        ],
    )
    statuses, _ = await asyncio.gather(sign_up_all([first, second], SIGN_UPS), burst)
    others = sorted(s for s in statuses if s != 201)
    print(
        f"\n{database_route}: {SIGN_UPS} sign-ups in {time.monotonic() - started:.1f}s, "
        f"non-201: {others or 'none'}"
    )
    assert others == []

    # Every outcome published first: then every copy is below the end offsets read_topic takes.
    await wait_published(POSTGRES_URL, timeout=120)
    messages = await read_topic(
        env["KAFKA_USER_CREATED_TOPIC"], expect=SIGN_UPS + COMMANDS, timeout=120
    )
    answered = {m.headers.get("commandId", b"").decode() for m in messages} & set(commands)
    assert len(answered) == COMMANDS, f"{COMMANDS - len(answered)} commands got no outcome"
    assert len(messages) == SIGN_UPS + COMMANDS

    async def all_verified() -> bool:
        done = [int((await w.verification())["verified"]) for w in (first, second)]
        return sum(done) == SIGN_UPS + COMMANDS

    await eventually(all_verified, timeout=60, what="the verifiers verified every event")
    pooler = env.get("DATABASE_POOLER", "none")
    for worker in (first, second):
        log = worker.log_text()
        assert "Traceback" not in log
        # The start-up line states the worker's connection budget.
        assert f"(pooler {pooler}; at most 14 connections: pools of 10, 2 and 2)" in log


async def test_a_transaction_pooler_the_worker_was_not_told_of_stops_the_start_saying_what_to_set(
    worker_env: dict[str, str], workers: list[Worker], tmp_path: Path
) -> None:
    require_pgbouncer()
    worker = Worker({**worker_env, "DATABASE_URL": PGBOUNCER_URL}, tmp_path)
    workers.append(worker)
    worker.start()
    process = worker.process
    assert process is not None

    async def stopped() -> bool:
        return process.poll() is not None

    await eventually(stopped, timeout=60, what="the worker to stop its start")
    assert process.returncode != 0
    log = worker.log_text()
    assert "set DATABASE_POOLER=transaction" in log, worker.log_tail()
    assert "prepared statement" not in log  # it never got as far as a failing statement
