"""Rate-limiting aiokafka's connection errors, which it logs on every retry.

With the broker down, aiokafka logs "Unable connect to ..." several times a second; the
service already reports the outage itself (once, then every 30 s), so repeats of the same
message are dropped and counted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

FLOODING_LOGGERS = (
    "aiokafka",
    "aiokafka.conn",
    "aiokafka.client",
    "aiokafka.cluster",
    "aiokafka.producer.sender",
    "aiokafka.producer.producer",
    "aiokafka.consumer.group_coordinator",
    "aiokafka.consumer.fetcher",
    "aiokafka.consumer.consumer",
    "faust.transport.drivers.aiokafka",
)


class RepeatFilter(logging.Filter):
    """Lets a given (logger, message template) through at most once per `every` seconds."""

    def __init__(self, every: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.every = every
        self.clock = clock
        self._last: dict[tuple[str, str], float] = {}
        self._suppressed: dict[tuple[str, str], int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key = (record.name, str(record.msg))
        now = self.clock()
        if now - self._last.get(key, float("-inf")) < self.every:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return False
        self._last[key] = now
        suppressed = self._suppressed.pop(key, 0)
        if suppressed:
            record.msg = f"{record.msg} ({suppressed} similar message(s) suppressed)"
        return True


_installed = RepeatFilter()


def quiet_kafka_client_logs() -> None:
    """Attach the shared filter to aiokafka's loggers (idempotent)."""
    for name in FLOODING_LOGGERS:
        logger = logging.getLogger(name)
        if _installed not in logger.filters:
            logger.addFilter(_installed)
