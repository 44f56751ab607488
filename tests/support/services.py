"""The real services: where they are, and failing loudly when they are not there."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# `make test` exports them (ops/kafka/kafka.sh test-env): the usual ports, or free ones.
KAFKA = os.environ.get("TEST_KAFKA_BROKER", "127.0.0.1:9092")
KAFKA_SASL = os.environ.get("TEST_KAFKA_SASL_BROKER", "127.0.0.1:9095")
POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql://users:users@127.0.0.1:5432/users_test"
)
# The same database through PgBouncer in transaction mode (make pgbouncer-up).
PGBOUNCER_PORT = int(os.environ.get("TEST_PGBOUNCER_PORT", "6432"))
PGBOUNCER_URL = POSTGRES_URL.replace("@127.0.0.1:5432/", f"@127.0.0.1:{PGBOUNCER_PORT}/")


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require(service: str, host: str, port: int, how: str) -> None:
    """Fail (never skip) when a real service the test needs is not running."""
    if not port_open(host, port):
        pytest.fail(f"{service} is not reachable at {host}:{port}; start it with `{how}`")


def require_kafka() -> None:
    host, port = KAFKA.rsplit(":", 1)
    require("Kafka", host, int(port), "make kafka-up")


def require_postgres() -> None:
    require("PostgreSQL", "127.0.0.1", 5432, "make db-up")


def require_pgbouncer() -> None:
    require("PgBouncer", "127.0.0.1", PGBOUNCER_PORT, "make pgbouncer-up")


def direct_url(url: str) -> str:
    """`url` to PostgreSQL itself: what a test reads and seeds with, when its workers go
    through PgBouncer (the test's own one-off statements need no pooler)."""
    return url.replace(f"@127.0.0.1:{PGBOUNCER_PORT}/", "@127.0.0.1:5432/")


def kafka_script(action: str) -> None:
    """Stop or start the local broker (ops/kafka/kafka.sh), waiting until it is done."""
    subprocess.run([str(ROOT / "ops/kafka/kafka.sh"), action], check=True, timeout=180)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def empty_postgres(url: str) -> str:
    """An empty `public` schema in the database at `url` (tests and benchmarks start there)."""
    import asyncpg

    require_postgres()
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()
    return url


def listening_sockets(port: int) -> int:
    """Sockets listening on TCP `port`, as the kernel lists them (`ss`): more than one
    when workers share it with SO_REUSEPORT."""
    out = subprocess.run(
        ["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True, check=True
    ).stdout
    return len(out.splitlines())
