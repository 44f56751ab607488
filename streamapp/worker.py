"""The Faust worker of this app (`app.conf.Worker`): readiness turns 503 the moment a
stop signal arrives, before Faust begins closing anything."""

from __future__ import annotations

import signal

import faust


class UsersWorker(faust.Worker):
    """faust.Worker, telling the app that it drains as soon as SIGTERM or SIGINT comes."""

    def _schedule_shutdown(self, signal: signal.Signals) -> None:
        begin = getattr(self.app, "begin_draining", None)
        if begin is not None:
            begin()
        super()._schedule_shutdown(signal)
