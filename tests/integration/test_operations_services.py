"""MIGRATE_ON_START=false and METRICS_PORT, as the worker's services run them."""

from __future__ import annotations

from pathlib import Path

import aiohttp
from prometheus_client import CollectorRegistry, Counter

from streamapp.lifecycle.gates import DatabaseService
from streamapp.lifecycle.metrics_server import MetricsServer
from streamapp.metrics import render_for
from tests.support.services import free_port
from users_service.adapters.storage.database import make_database
from users_service.adapters.storage.migrations import migrate, schema_revisions


async def test_a_worker_that_does_not_migrate_waits_for_the_schema(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'not-migrated.sqlite3'}"
    pool = make_database(url)
    service = DatabaseService([pool], url, migrate_on_start=False)
    try:
        assert await service.attempt() is False  # behind the code: it waits, migrates nothing
        assert "users-service migrate" in service.what
        assert schema_revisions(url)[0] is None
        await migrate(url)  # what the operator's job does
        assert await service.attempt() is True
    finally:
        await pool.disconnect()


async def test_metrics_on_a_port_of_their_own() -> None:
    registry = CollectorRegistry()
    Counter("probe_things", "things", registry=registry).inc(3)

    async def render(accept: str) -> tuple[bytes, str]:
        return render_for(registry, accept)

    port = free_port()
    server = MetricsServer(render, "127.0.0.1", port)
    await server.start()
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/metrics") as resp,
        ):
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/plain")
            assert "probe_things_total 3.0" in await resp.text()
        # A scraper asking for OpenMetrics (what carries exemplars) gets it.
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                f"http://127.0.0.1:{port}/metrics",
                headers={"Accept": "application/openmetrics-text; version=1.0.0"},
            ) as resp,
        ):
            assert resp.headers["Content-Type"].startswith("application/openmetrics-text")
            assert (await resp.text()).endswith("# EOF\n")
    finally:
        await server.stop()
