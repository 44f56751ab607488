"""Faust's aiohttp web server: able to share its port with the other workers on a host, and
with a keep-alive timeout of ours.

Upstream: Faust has no setting for either and no issue asks for one (none found in
faust-streaming/faust). aiohttp has had `TCPSite(reuse_port=)` since aio-libs/aiohttp#2679,
and its server-side keep-alive default became an hour with aio-libs/aiohttp#9285; Faust's
`Web` builds the site and the runner itself. Written for faust-streaming 0.15.3 and aiohttp
3.14.5; relies on `Web._new_transport_tcp`, `Web._runner` and aiohttp's
`AppRunner._kwargs` (handed to the server factory at setup), which
tests/unit/test_workaround_canaries.py holds.
"""

from __future__ import annotations

from typing import Any

from aiohttp.web import BaseSite, TCPSite
from faust.web.drivers.aiohttp import Web


def set_keepalive_timeout(web: Any, seconds: float) -> None:
    """aiohttp keeps an idle keep-alive connection for an hour by default; a flood of idle
    clients would hold sockets that long. Faust's runner exists before it starts, and its
    keyword arguments reach every connection's handler (`AppRunner._make_server`)."""
    runner = getattr(web, "_runner", None)  # Faust's aiohttp AppRunner, not started yet
    if runner is not None:
        runner._kwargs["keepalive_timeout"] = seconds


class SharedPortWeb(Web):
    """Binds with SO_REUSEPORT (WEB_REUSE_PORT=true): every worker on the host listens on
    the same WEB_PORT and the kernel spreads new connections over them, so one worker per
    core needs no balancer in front. Linux lets only sockets of the same user share a port,
    so another user's process cannot bind it to take a share of the traffic."""

    def _new_transport_tcp(self) -> BaseSite:
        return TCPSite(
            self._runner,
            self.app.conf.web_bind,
            self.app.conf.web_port,
            ssl_context=self.app.conf.web_ssl_context,
            reuse_port=True,
        )
