"""Stopping a worker in bad conditions, with real processes: SIGTERM while PostgreSQL is
unreachable must end the worker within SHUTDOWN_GRACE, and lose nothing."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path

from tests.support.kafka import produce, read_topic
from tests.support.services import POSTGRES_URL, free_port
from tests.support.tcp_proxy import TcpProxy
from tests.support.waiting import eventually
from tests.support.worker import Worker


async def test_sigterm_while_the_database_is_down_exits_in_time_and_loses_no_command(
    worker_env: dict[str, str], workers: list[Worker], tmp_path: Path
) -> None:
    proxy = TcpProxy("127.0.0.1", 5432)
    await proxy.start()
    env = {
        **worker_env,
        "DATABASE_URL": POSTGRES_URL.replace(":5432/", f":{proxy.port}/"),
        "SHUTDOWN_GRACE": "15",
    }
    first = Worker(env, tmp_path, name="first")
    workers.append(first)
    first.start()
    await first.wait_serving()
    await proxy.cut()  # PostgreSQL unreachable from here on
    command = {
        "commandId": str(uuid.uuid4()),
        "nombre": "Held",
        "email": f"held-{uuid.uuid4().hex[:6]}@example.com",
        "password": "correct-horse",
    }
    await produce(worker_env["KAFKA_USER_CREATE_TOPIC"], json.dumps(command).encode())

    async def retrying() -> bool:
        return "handling the command again" in first.log_text()

    await eventually(retrying, timeout=30, what="the agent retrying the command")
    started = time.monotonic()
    code = await asyncio.to_thread(first.terminate, 60)
    took = time.monotonic() - started
    print(f"\nSIGTERM with the database down: exit {code} after {took:.1f}s")
    assert took < 15 + 3, first.log_tail(40)

    # The command was never acknowledged: a worker on a reachable database handles it.
    second = Worker(worker_env, tmp_path, name="second")
    workers.append(second)
    second.start()
    [created] = await read_topic(worker_env["KAFKA_USER_CREATED_TOPIC"], expect=1, timeout=60)
    assert created.headers["commandId"] == command["commandId"].encode()


async def test_a_worker_started_while_the_database_is_down_waits_for_it(
    worker_env: dict[str, str], workers: list[Worker], tmp_path: Path
) -> None:
    """As with Kafka: it waits (and says so) instead of exiting, and starts once it can."""
    proxy = TcpProxy("127.0.0.1", 5432)
    proxy.port = free_port()  # the database's address, with nothing listening there yet
    env = {**worker_env, "DATABASE_URL": POSTGRES_URL.replace(":5432/", f":{proxy.port}/")}
    worker = Worker(env, tmp_path)
    workers.append(worker)
    worker.start()

    async def waiting() -> bool:
        worker.assert_alive()
        return "database" in worker.log_text() and "waiting" in worker.log_text()

    await eventually(waiting, timeout=30, what="the worker waiting for the database")
    worker.assert_alive()
    await proxy.start()  # the database is back
    try:
        await worker.wait_serving(timeout=60)
        status, _, _ = await worker.post_user(
            {"nombre": "Late", "email": "late@example.com", "password": "correct-horse"}
        )
        assert status == 201
    finally:
        await proxy.cut()
