"""Whether Kafka takes our messages, and logging its failures without a flood."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from users_service.domain.clock import utc_now

log = logging.getLogger("outbox")


@dataclass
class PublishHealth:
    """Shared by the fast path and the relay.

    While Kafka is out of reach, new messages skip the fast path (they would only wait for
    a timeout) and the relay retries them. After `reopen_after` seconds the fast path tries
    again by itself: a worker that is not the relay's leader publishes nothing else, and
    would otherwise never learn that Kafka is back. A message that fails for reasons of its
    own does not close it. Outages are logged on the first failure, then at most once per
    `log_every` seconds with a count of those in between, then once on recovery.
    """

    log_every: float = 30.0
    reopen_after: float = 5.0
    clock: Callable[[], float] = time.monotonic
    wall_clock: Callable[[], datetime] = utc_now
    producer_started: bool = False
    failing: bool = False
    published_total: int = 0
    published_by_path: Counter[str] = field(default_factory=Counter)
    failures_total: int = 0
    last_error: str | None = None
    last_error_at: datetime | None = None
    _suppressed: int = field(default=0, repr=False)
    _last_logged: float = field(default=float("-inf"), repr=False)
    _last_outage: float = field(default=float("-inf"), repr=False)

    @property
    def fast_path_open(self) -> bool:
        """True when new messages should be published at once."""
        if not self.producer_started:
            return False
        return not self.failing or self.clock() - self._last_outage >= self.reopen_after

    def published(self, count: int, path: str = "relay") -> None:
        """Kafka acknowledged `count` messages, sent by `path` ("fast" or "relay")."""
        self.published_total += count
        self.published_by_path[path] += count
        if self.failing and count:
            self.failing = False
            log.warning(
                "Kafka accepts messages again (%d failures since the last report)",
                self._suppressed,
            )
            self._suppressed = 0

    def failed(self, count: int, error: str) -> None:
        """Kafka could not be reached for `count` messages."""
        self._record(count, error)
        now = self._last_outage = self.clock()
        if not self.failing or now - self._last_logged >= self.log_every:
            log.error(
                "publishing to Kafka failed (%s); %d message(s) stay in the outbox for retry%s",
                error,
                count,
                f"; {self._suppressed} more failure(s) since the last report"
                if self._suppressed
                else "",
            )
            self._last_logged = now
            self._suppressed = 0
        else:
            self._suppressed += count
        self.failing = True

    def faulted(self, count: int, error: str) -> None:
        """Kafka refused `count` messages for reasons of their own; the rest may flow."""
        self._record(count, error)
        log.error("Kafka refused %d message(s): %s; they are retried, then parked", count, error)

    def _record(self, count: int, error: str) -> None:
        self.failures_total += count
        self.last_error = error
        self.last_error_at = self.wall_clock()
