"""`/metrics` on a port of its own."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import mode
from aiohttp import web

log = logging.getLogger("users")


class MetricsServer(mode.Service):
    """`/metrics` on a port of its own (METRICS_PORT), so that the scrape port can stay
    inside the cluster while the API's port is exposed."""

    def __init__(
        self,
        render: Callable[[str], Awaitable[tuple[bytes, str]]],
        host: str,
        port: int,
        **kwargs: Any,
    ) -> None:
        self.render = render
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None
        super().__init__(**kwargs)

    async def on_start(self) -> None:
        application = web.Application()
        application.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(application, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        log.info("metrics served on http://%s:%d/metrics", self.host, self.port)

    async def on_stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _metrics(self, request: web.Request) -> web.Response:
        # The format the scraper asks for (OpenMetrics carries the exemplars).
        body, content_type = await self.render(request.headers.get("Accept", ""))
        response = web.Response(body=body)
        response.headers["Content-Type"] = content_type
        return response
