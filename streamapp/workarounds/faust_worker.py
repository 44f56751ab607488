"""The Faust worker of this app (`app.conf.Worker`): readiness turns 503 the moment a
stop signal arrives, before Faust begins closing anything; and the logging of
`streamapp.logging_setup` at the level asked for, without Faust's terminal spinner;
OpenTelemetry configured as it starts and flushed once its services have stopped.

Upstream: faust-streaming/faust#495 (output at `-l warn` that is not a log record: the
spinner); no issue asks for a hook at the stop signal. Written for faust-streaming 0.15.3 and
mode-streaming 0.7.1; relies on `Worker._schedule_shutdown`, `_setup_logging`,
`logging_config`, `loglevel`, `spinner` and `on_setup_root_logger`
(tests/unit/test_workaround_canaries.py holds them)."""

from __future__ import annotations

import asyncio
import logging
import signal

import faust
from mode.utils.logging import level_number


class UsersWorker(faust.Worker):
    """faust.Worker, telling the app that it drains as soon as SIGTERM or SIGINT comes."""

    def _schedule_shutdown(self, signal: signal.Signals) -> None:
        begin = getattr(self.app, "begin_draining", None)
        if begin is not None:
            begin()
        super()._schedule_shutdown(signal)

    async def on_first_start(self) -> None:
        await super().on_first_start()  # logging is configured in there
        start_tracing = getattr(self.app, "start_tracing", None)
        if start_tracing is not None:
            start_tracing()
        announce = getattr(self.app, "announce_start", None)
        if announce is not None:
            announce()

    async def on_shutdown(self) -> None:
        await super().on_shutdown()
        # After the app's services (web server, agents, relay): their last spans are
        # queued by then. The export blocks (bounded by the exporters' timeouts): a thread.
        stop_tracing = getattr(self.app, "stop_tracing", None)
        if stop_tracing is not None:
            await asyncio.to_thread(stop_tracing)

    def _setup_logging(self) -> None:
        # The app's dictConfig carries LOG_LEVEL; `--loglevel` on the command line may make
        # it more verbose (`faust worker -l debug`), never quieter: Faust's default there is
        # WARN, which cannot be told apart from a WARN typed on purpose.
        if self.logging_config:
            config = dict(self.logging_config)
            root = dict(config.get("root", {}))
            configured = level_number(root.get("level", "INFO"))
            asked = level_number(self.loglevel) if self.loglevel else logging.WARN
            root["level"] = min(configured, asked)
            config["root"] = root
            self.logging_config = config
            self.loglevel = root["level"]
        super()._setup_logging()

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        # No terminal spinner, ever. At WARN and above Faust adds one that sets the root
        # logger to DEBUG so it can spin on every record: every library's DEBUG record is
        # then created, formatted and redacted, and dropped (a quarter of the worker's CPU
        # while draining the outbox). Its frames are not JSON either.
        self.spinner = None
        super().on_setup_root_logger(logger, level)
