"""The real Zipkin server of ops/zipkin/zipkin.sh (`make zipkin-up`): where it is, failing
loudly when it is not there, and reading a trace back through its API."""

from __future__ import annotations

import os
from typing import Any

import aiohttp

from tests.support.services import require
from tests.support.waiting import eventually

ZIPKIN_HOST = "127.0.0.1"
# The same setting as ops/zipkin/zipkin.sh's.
ZIPKIN_PORT = int(os.environ.get("ZIPKIN_PORT", "9411"))
ZIPKIN_URL = f"http://{ZIPKIN_HOST}:{ZIPKIN_PORT}"
# Where a worker's Zipkin exporter sends its spans (OTEL_EXPORTER_ZIPKIN_ENDPOINT).
ZIPKIN_SPANS_ENDPOINT = f"{ZIPKIN_URL}/api/v2/spans"

Span = dict[str, Any]


def require_zipkin() -> None:
    """Fail (never skip) when Zipkin is not running."""
    require("Zipkin", ZIPKIN_HOST, ZIPKIN_PORT, "make zipkin-up")


async def trace_spans(trace_id: str) -> list[Span]:
    """The spans Zipkin holds for `trace_id` (32 hex digits); empty when it has none."""
    url = f"{ZIPKIN_URL}/api/v2/trace/{trace_id}"
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, timeout=aiohttp.ClientTimeout(total=5)) as resp,
    ):
        if resp.status == 404:  # Zipkin's answer for a trace it has no span of
            return []
        assert resp.status == 200, await resp.text()
        spans: list[Span] = await resp.json()
        return spans


async def wait_for_span(
    trace_id: str, name: str, *, timeout: float = 30.0
) -> tuple[Span, list[Span]]:
    """The span named `name` in trace `trace_id`, once Zipkin has it, and the whole trace;
    fails after `timeout` seconds. (Zipkin lower-cases span names.)"""

    async def found() -> tuple[Span, list[Span]] | None:
        spans = await trace_spans(trace_id)
        named = [span for span in spans if span.get("name") == name.lower()]
        return (named[0], spans) if named else None

    result = await eventually(
        found, timeout=timeout, interval=0.2, what=f"span {name!r} of trace {trace_id} in Zipkin"
    )
    assert result is not None
    return result
