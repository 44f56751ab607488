"""Faust's aiohttp web server, able to share its port with the other workers on a host."""

from __future__ import annotations

from aiohttp.web import BaseSite, TCPSite
from faust.web.drivers.aiohttp import Web


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
