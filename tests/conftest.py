"""Fixtures shared by the suite: real PostgreSQL and Kafka, workers, fresh databases.

Tests live by kind: `tests/unit` (no service), `tests/integration` (PostgreSQL and the
in-process app), `tests/e2e` (worker processes on Kafka and PostgreSQL). Each test is
marked with its kind from its folder, so `pytest -m unit` is what `make test-unit` runs.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import databases
import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from tests.support.failures import FAILED
from tests.support.services import (
    KAFKA,
    PGBOUNCER_URL,
    POSTGRES_URL,
    empty_postgres,
    require_kafka,
    require_pgbouncer,
)
from tests.support.web import TEST_JWT_SECRET
from tests.support.worker import Worker
from users_service.adapters.storage.database import make_database
from users_service.adapters.storage.migrations import migrate

# Properties (marked `property`): modest example counts in `make test` (`ci`), many more in
# `make fuzz` (HYPOTHESIS_PROFILE=fuzz). No deadline: examples wait on real databases and
# the machine is shared; a slow example is not a wrong one.
_PROPERTIES = hypothesis_settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
hypothesis_settings.register_profile("ci", _PROPERTIES, max_examples=50)
hypothesis_settings.register_profile("fuzz", _PROPERTIES, max_examples=2000)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


async def reset_postgres() -> None:
    """Every test that uses PostgreSQL starts from an empty database."""
    await empty_postgres(POSTGRES_URL)


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """One suite over both databases, like encode/databases' own tests."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/users.sqlite3"
    await reset_postgres()
    return POSTGRES_URL


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[databases.Database]:
    """A connected, migrated, empty database."""
    await migrate(database_url)
    db = make_database(database_url)
    await db.connect()
    try:
        yield db
    finally:
        await db.disconnect()


@pytest.fixture
async def postgres_url() -> str:
    await reset_postgres()
    return POSTGRES_URL


@pytest.fixture
def kafka() -> None:
    require_kafka()


@pytest.fixture
def database_route() -> str:
    """How the workers reach PostgreSQL: "direct", or "pgbouncer" (transaction mode) for
    the scenarios marked `both_routes`, which run once each way."""
    return "direct"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.definition.get_closest_marker("both_routes") and (
        "database_route" in metafunc.fixturenames
    ):
        metafunc.parametrize("database_route", ["direct", "pgbouncer"])


def route_env(route: str, postgres_url: str) -> dict[str, str]:
    """The workers' database settings for `route` (migrations go through the pooler too)."""
    if route == "direct":
        return {"DATABASE_URL": postgres_url}
    require_pgbouncer()
    return {"DATABASE_URL": PGBOUNCER_URL, "DATABASE_POOLER": "transaction"}


@pytest.fixture
def worker_env(
    postgres_url: str, kafka: None, tmp_path: Path, database_route: str
) -> dict[str, str]:
    """Settings for workers of one test: their own topic and group, fast timeouts."""
    run = uuid.uuid4().hex[:10]
    return {
        "KAFKA_BROKER": KAFKA,
        "KAFKA_GROUP_ID": f"test-{run}",
        "KAFKA_USER_CREATED_TOPIC": f"user.created.test-{run}",
        "KAFKA_USER_CREATE_TOPIC": f"user.create.test-{run}",
        "KAFKA_USER_CREATE_REJECTED_TOPIC": f"user.create.rejected.test-{run}",
        "KAFKA_USER_CREATE_DLQ_TOPIC": f"user.create.dlq.test-{run}",
        "KAFKA_USER_DELETED_TOPIC": f"user.deleted.test-{run}",
        "KAFKA_USER_ERASE_TOPIC": f"user.erase.test-{run}",
        "KAFKA_REQUEST_TIMEOUT": "5",
        "KAFKA_SESSION_TIMEOUT": "6",
        **route_env(database_route, postgres_url),
        "BCRYPT_ROUNDS": "4",
        "OUTBOX_POLL_INTERVAL": "0.2",
        "OUTBOX_LEASE_TTL": "8",
        "FAUST_DATA_DIR": str(tmp_path / "faust"),
        "AUTH_JWT_SECRET": TEST_JWT_SECRET,
    }


@pytest.fixture
def workers(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[list[Worker]]:
    """Collects workers a test starts; kills the ones still running afterwards."""
    started: list[Worker] = []
    yield started
    failed = request.node.stash.get(FAILED, False)
    for worker in started:
        worker.kill()
        if failed:
            print(f"\n--- log of {worker.log_path.name} ---\n{worker.log_tail(80)}")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    report = yield
    if report.when == "call" and report.failed:
        item.stash[FAILED] = True
    return report


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test with its kind, taken from its folder."""
    for item in items:
        kind = item.path.parent.name
        if kind in {"unit", "integration", "e2e"}:
            item.add_marker(getattr(pytest.mark, kind))
