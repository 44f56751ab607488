"""WEB_REUSE_PORT: two workers of one group on one host listen on one port (SO_REUSEPORT),
and the kernel spreads new connections over both; no balancer in front."""

from __future__ import annotations

from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.support.services import free_port, listening_sockets
from tests.support.waiting import eventually
from tests.support.worker import Worker

SIGN_UPS = 24


async def created_over_http(metrics_port: int) -> float:
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        assert resp.status == 200
        text = await resp.text()
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "users_created_total" and s.labels.get("channel") == "http"
    )


async def test_two_workers_share_one_port_and_both_serve(
    worker_env: dict[str, str], workers: list[Worker], tmp_path: Path
) -> None:
    port = free_port()
    metrics_ports = [free_port(), free_port()]
    pair = [
        Worker(
            {**worker_env, "WEB_REUSE_PORT": "true", "METRICS_PORT": str(metrics_port)},
            tmp_path,
            name=f"shared-{n}",
            port=port,
        )
        for n, metrics_port in enumerate(metrics_ports)
    ]
    workers += pair
    for worker in pair:
        worker.start()

    async def both_listening() -> bool:
        for worker in pair:
            worker.assert_alive()
        return listening_sockets(port) == 2

    await eventually(both_listening, timeout=60, interval=0.2, what="both workers listening")
    await pair[0].wait_serving()

    # Each sign-up on a connection of its own: the kernel picks a listener per connection.
    for n in range(SIGN_UPS):
        status, _, _ = await pair[0].post_user(
            {"nombre": "Ana", "email": f"shared-{n}@example.com", "password": "pw-123456"}
        )
        assert status == 201
    served = [await created_over_http(p) for p in metrics_ports]
    assert sum(served) == SIGN_UPS
    assert all(count > 0 for count in served), served
