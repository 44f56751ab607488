"""Whether Kafka takes our messages, and logging its failures without a flood."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("outbox")


@dataclass
class PublishHealth:
    """Shared by the fast path and the relay.

    While Kafka is failing, new messages skip the fast path (they would only wait for a
    timeout) and the relay retries them. Failures are logged on the first one, then at most
    once per `log_every` seconds with a count of those in between, then once on recovery.
    """

    log_every: float = 30.0
    clock: Callable[[], float] = time.monotonic
    producer_started: bool = False
    failing: bool = False
    published_total: int = 0
    failures_total: int = 0
    last_error: str | None = None
    _suppressed: int = field(default=0, repr=False)
    _last_logged: float = field(default=float("-inf"), repr=False)

    @property
    def fast_path_open(self) -> bool:
        return self.producer_started and not self.failing

    def published(self, count: int) -> None:
        self.published_total += count
        if self.failing and count:
            self.failing = False
            log.warning(
                "Kafka accepts messages again (%d failures since the last report)",
                self._suppressed,
            )
            self._suppressed = 0

    def failed(self, count: int, error: BaseException | str) -> None:
        self.failures_total += count
        self.last_error = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        now = self.clock()
        if not self.failing or now - self._last_logged >= self.log_every:
            log.error(
                "publishing to Kafka failed (%s); %d message(s) stay in the outbox for retry%s",
                self.last_error,
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
