"""Probes and metrics for operators and orchestrators; none of them needs a token.

`/livez` answers from the event loop and checks nothing else, so a database or Kafka
outage never gets the worker restarted. `/readyz` names each part that is not ready.
`/metrics` is Prometheus' text format (on WEB_PORT unless METRICS_PORT gives it a port
of its own).
"""

from __future__ import annotations

from faust.web import Request, Response

from streamapp.app import app
from web.responses import ApiView


@app.page("/livez")
class LivenessView(ApiView):
    """The event loop answers."""

    async def get(self, request: Request) -> Response:
        return self.json({"status": "alive"})


@app.page("/readyz")
class ReadinessView(ApiView):
    """200 when every part is ready; 503 naming each part that is not."""

    async def get(self, request: Request) -> Response:
        report = await app.readiness.check()
        if report.ready:
            return self.json({"status": "ready", "checks": report.parts})
        return self.json(
            {
                "status": "not_ready",
                "checks": report.parts,
                "error": {
                    "code": "not_ready",
                    "message": "not ready: " + ", ".join(report.not_ready),
                },
            },
            status=503,
            headers={"Cache-Control": "no-store"},
        )


if not app.settings.operations.metrics_port:

    @app.page("/metrics")
    class MetricsView(ApiView):
        """Every metric of this worker."""

        async def get(self, request: Request) -> Response:
            # The format the scraper asks for (OpenMetrics carries the exemplars).
            body, content_type = await app.metrics_exposition(request.headers.get("Accept", ""))
            return self.bytes(body, headers={"Content-Type": content_type})
